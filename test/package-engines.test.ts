import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '#testing';

/*
 * `engines.node` promises a Node.js version; every locked dependency must accept it, or `npm ci`
 * on that version prints an EBADENGINE warning per package (97 lines once, for OpenTelemetry 3,
 * @nats-io/nuid 3, the Nest CLI's tooling...) and runs code its authors do not support there.
 */

type Version = readonly [number, number, number];

/** A comparator's version: missing or `x` parts are wildcards (undefined). Pre-release tags are dropped. */
function partial(text: string): Array<number | undefined> {
  const core = text.replace(/^v/, '').split(/[-+]/)[0]!;
  if (core === '' || core === '*') return [];
  return core.split('.').map((part) => (/^[xX*]$/.test(part) ? undefined : Number(part)));
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** The lowest version a partial covers, and the lowest above it ([M] covers M.0.0 up to M+1.0.0). */
function bounds(parts: Array<number | undefined>): { low: Version; high: Version | undefined } {
  const known: number[] = [];
  for (const part of parts.slice(0, 3)) {
    if (part === undefined) break;
    known.push(part);
  }
  const low: Version = [known[0] ?? 0, known[1] ?? 0, known[2] ?? 0];
  if (known.length === 0) return { low, high: undefined };
  if (known.length === 3) return { low, high: [low[0], low[1], low[2] + 1] };
  const high = [...known];
  high[high.length - 1]! += 1;
  return { low, high: [high[0] ?? 0, high[1] ?? 0, 0] };
}

function satisfies(version: Version, comparator: string): boolean {
  const [, op = '', rest = ''] = /^(>=|<=|>|<|=|\^|~)?\s*(.*)$/.exec(comparator) ?? [];
  const parts = partial(rest);
  const { low, high } = bounds(parts);
  const exact = parts.length >= 3 && parts.every((p) => p !== undefined);
  switch (op) {
    case '>=':
      return compare(version, low) >= 0;
    case '>':
      return exact ? compare(version, low) > 0 : high === undefined ? false : compare(version, high) >= 0;
    case '<':
      return compare(version, low) < 0;
    case '<=':
      return exact ? compare(version, low) <= 0 : high === undefined || compare(version, high) < 0;
    case '^': {
      const major = parts[0] ?? 0;
      const ceiling: Version = major > 0 || parts.length < 2 ? [major + 1, 0, 0] : [0, (parts[1] ?? 0) + 1, 0];
      return compare(version, low) >= 0 && compare(version, ceiling) < 0;
    }
    case '~': {
      const ceiling: Version = parts.length < 2 || parts[1] === undefined ? [low[0] + 1, 0, 0] : [low[0], low[1] + 1, 0];
      return compare(version, low) >= 0 && compare(version, ceiling) < 0;
    }
    default:
      return compare(version, low) >= 0 && (high === undefined || compare(version, high) < 0);
  }
}

/** Whether a semver range (`^18.19.0 || >=20.6.0`, `>= 22.x`, `1.2 - 3`) admits `version`. */
function admits(range: string, version: Version): boolean {
  return range.split('||').some((set) => {
    const hyphen = /^\s*(\S+)\s+-\s+(\S+)\s*$/.exec(set);
    if (hyphen) return satisfies(version, `>=${hyphen[1]}`) && satisfies(version, `<=${hyphen[2]}`);
    // `>= 22.x`: an operator may stand apart from its version.
    const comparators = set.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1').split(/\s+/).filter(Boolean);
    return comparators.every((comparator) => satisfies(version, comparator));
  });
}

describe('admits', () => {
  it.each([
    ['>=20.19', [20, 19, 0], true],
    ['>=22.15.0', [20, 19, 0], false],
    ['>= 22.x', [20, 19, 0], false],
    ['>= 20.11', [20, 19, 0], true],
    ['^18.19.0 || >=20.6.0', [20, 19, 0], true],
    ['^18.19.0 || >=20.6.0', [19, 0, 0], false],
    ['^22.22.3 || ^24.15.0 || >=26.0.0', [20, 19, 0], false],
    ['^20.19.0 || ^22.12.0 || >=24.0.0', [20, 19, 0], true],
    ['>=22', [20, 19, 0], false],
    ['>=8', [20, 19, 0], true],
    ['*', [20, 19, 0], true],
    ['20 || >=22', [20, 19, 0], true],
    ['20 || >=22', [21, 0, 0], false],
    ['~20.18', [20, 19, 0], false],
    ['>20.x', [20, 19, 0], false],
    ['<=20', [20, 19, 0], true],
    ['>=14 <21', [20, 19, 0], true],
    ['12 - 20.18', [20, 19, 0], false],
  ] as const)('%s admits %j: %s', (range, version, expected) => {
    expect(admits(range, version)).toBe(expected);
  });
});

describe('the locked dependencies', () => {
  it("all run on the project's minimum Node.js", () => {
    const root = repoRoot();
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
    const minimum = /^>=\s*(\d+(?:\.\d+){0,2})$/.exec(manifest.engines.node);
    expect(minimum).not.toBeNull();
    const parts = minimum![1]!.split('.').map(Number);
    const version: Version = [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0];
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
    };
    const refusing = Object.entries(lock.packages).flatMap(([path, info]) => {
      const node = Array.isArray(info.engines) ? undefined : info.engines?.node;
      return path !== '' && node !== undefined && !admits(node, version) ? [`${path.replace(/^.*node_modules\//, '')}@${info.version} wants node ${node}`] : [];
    });
    expect(refusing).toEqual([]);
  });
});
