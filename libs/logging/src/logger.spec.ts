import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from './logger.js';

describe('Logger', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'merklekv-log-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const lines = (file: string): Record<string, unknown>[] =>
    readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  it('adds the ambient fields of the moment to every line, children included', () => {
    const file = join(dir, 'log');
    let ambient: { trace_id: string } | undefined = { trace_id: 'abc' };
    const logger = Logger.create({ level: 'info', file, ambient: () => ambient });
    logger.child({ component: 'x' }).info('inside', { n: 1 });
    ambient = undefined;
    logger.warn('outside');
    logger.debug('below the level');
    logger.close();
    const [inside, outside, ...rest] = lines(file);
    expect(inside).toMatchObject({ level: 'info', msg: 'inside', component: 'x', trace_id: 'abc', n: 1 });
    expect(outside).toMatchObject({ level: 'warn', msg: 'outside' });
    expect(outside).not.toHaveProperty('trace_id');
    expect(rest).toEqual([]);
  });
});
