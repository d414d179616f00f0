import { LineSplitter, LogBuffer } from './log-buffer.js';

describe('LogBuffer', () => {
  it('keeps the last `capacity` lines in order and says how many it dropped', () => {
    const log = new LogBuffer(3);
    for (let i = 1; i <= 5; i += 1) log.push(`line ${i}`);
    expect(log.lines()).toEqual(['line 3', 'line 4', 'line 5']);
    expect(log.text()).toBe('(… 2 earlier lines dropped)\nline 3\nline 4\nline 5');
  });

  it('cuts runaway lines', () => {
    const log = new LogBuffer(2);
    log.push('x'.repeat(100_000));
    expect(log.text().length).toBeLessThan(9_000);
  });
});

describe('LineSplitter', () => {
  it('gives the same lines for every split of the input, CRLF or LF, multi-byte characters included', () => {
    const input = Buffer.from('first\r\nsecond é 🙂\n\nlast', 'utf8');
    for (let cut = 0; cut <= input.length; cut += 1) {
      const lines: string[] = [];
      const splitter = new LineSplitter((line) => lines.push(line));
      splitter.push(input.subarray(0, cut));
      splitter.push(input.subarray(cut));
      splitter.end();
      expect(lines).toEqual(['first', 'second é 🙂', '', 'last']);
    }
  });
});
