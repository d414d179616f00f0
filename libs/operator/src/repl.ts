import { readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { TextConnection } from './text-connection.js';

export interface CliOptions {
  readonly host: string;
  readonly port: number;
  /** A command given on the command line: sent once, its reply printed, then exit. */
  readonly command: readonly string[];
  readonly input: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly output: NodeJS.WritableStream;
  /** Interactive history file (default ~/.merklekv_history; MERKLEKV_HISTFILE). */
  readonly historyFile?: string;
}

const HISTORY_SIZE = 1000;

/**
 * `merklekv cli`: like redis-cli. With a command, one request and its reply; without, a prompt
 * with line editing and history on a terminal, or every line of a pipe sent in turn. Resolves
 * with the exit code: 1 when a one-shot reply is an error or the connection is lost.
 */
export async function runCli(options: CliOptions): Promise<number> {
  const connection = await TextConnection.open(options.host, options.port);
  const print = (line: string): void => void options.output.write(`${line}\n`);
  try {
    if (options.command.length > 0) {
      const lines = await connection.request(options.command.join(' '), print);
      return lines[0]?.startsWith('ERROR') ? 1 : 0;
    }
    return await interactive(connection, options, print);
  } finally {
    connection.close();
  }
}

async function interactive(connection: TextConnection, options: CliOptions, print: (line: string) => void): Promise<number> {
  const terminal = options.input.isTTY === true;
  const historyFile = options.historyFile ?? process.env.MERKLEKV_HISTFILE ?? join(homedir(), '.merklekv_history');
  const rl = createInterface({
    input: options.input,
    output: options.output,
    terminal,
    historySize: HISTORY_SIZE,
    // readline keeps the newest first.
    history: terminal ? readHistory(historyFile) : [],
  });
  if (terminal) rl.on('history', (history: string[]) => writeHistory(historyFile, history));
  rl.setPrompt(`${options.host}:${options.port}> `);
  let watching = false;
  const lines = rl[Symbol.asyncIterator]();
  if (terminal) rl.prompt();
  for (;;) {
    const next = await lines.next();
    if (next.done) break;
    const line = next.value.trim();
    if (watching) {
      // Enter ends a WATCH, as it does on a raw connection.
      connection.endWatch();
      continue;
    }
    if (line === 'quit' || line === 'exit') break;
    if (line !== '') {
      const isWatch = /^WATCH\b/i.test(line);
      watching = isWatch && terminal;
      const reply = connection.request(line, print);
      if (watching) {
        print('(press Enter to stop watching)');
        void reply.finally(() => {
          watching = false;
          rl.prompt();
        });
        continue;
      }
      try {
        await reply;
      } catch (err) {
        print(`(connection lost: ${(err as Error).message})`);
        rl.close();
        return 1;
      }
    }
    if (terminal) rl.prompt();
  }
  rl.close();
  return 0;
}

function readHistory(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).reverse().slice(0, HISTORY_SIZE);
  } catch {
    return [];
  }
}

function writeHistory(file: string, history: readonly string[]): void {
  try {
    writeFileSync(file, `${[...history].reverse().join('\n')}\n`, { mode: 0o600 });
  } catch {
    // No writable home: history lasts the session.
  }
}
