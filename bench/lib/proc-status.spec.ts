import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { directoryBytes, parseProcIo, parseVmRss, processIo, processRssBytes } from './proc-status.js';

describe('parseVmRss', () => {
  it('reads VmRSS in bytes', () => {
    const text = 'Name:\tnode\nVmPeak:\t  999 kB\nVmRSS:\t  135204 kB\nRssAnon:\t 1 kB\n';
    expect(parseVmRss(text)).toBe(135204 * 1024);
  });

  it('refuses text without it (a kernel thread, a zombie)', () => {
    expect(parseVmRss('Name:\tkthreadd\nState:\tS\n')).toBeUndefined();
  });
});

describe('parseProcIo', () => {
  it('reads the counters', () => {
    const text = 'rchar: 6976\nwchar: 10\nsyscr: 10\nsyscw: 0\nread_bytes: 4096\nwrite_bytes: 50061312\ncancelled_write_bytes: 8192\n';
    expect(parseProcIo(text)).toEqual({ wchar: 10, writeBytes: 50061312, cancelledWriteBytes: 8192, readBytes: 4096 });
  });

  it('refuses text that lacks one', () => {
    expect(parseProcIo('rchar: 1\nwchar: 2\n')).toBeUndefined();
  });
});

describe('process readings', () => {
  it('read this process on Linux and nothing for a pid that does not exist', () => {
    if (process.platform === 'linux') {
      expect(processRssBytes(process.pid)).toBeGreaterThan(0);
      expect(processIo(process.pid)?.writeBytes).toBeGreaterThanOrEqual(0);
    }
    expect(processRssBytes(2 ** 30)).toBeUndefined();
    expect(processIo(2 ** 30)).toBeUndefined();
  });
});

describe('directoryBytes', () => {
  it('adds the sizes of the files of a tree, not following links', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bench-dirbytes-'));
    try {
      await writeFile(join(dir, 'a'), Buffer.alloc(100));
      await mkdir(join(dir, 'sub', 'deeper'), { recursive: true });
      await writeFile(join(dir, 'sub', 'b'), Buffer.alloc(20));
      await writeFile(join(dir, 'sub', 'deeper', 'c'), Buffer.alloc(3));
      await symlink(join(dir, 'a'), join(dir, 'link'));
      expect(await directoryBytes(dir)).toBe(123);
      expect(await directoryBytes(join(dir, 'missing'))).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
