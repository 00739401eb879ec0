import fc from 'fast-check';
import { parseRange, type ByteRange } from '../../src/hosts/http/range.js';
import { check, Tally, type FuzzTarget } from '../target.js';

/**
 * The `Range` header parser of the source route. An input is `<size>\n<header>` (a size that does
 * not parse is 1000). Contract: undefined (send it all), 'unsatisfiable' (416) or a range of whole
 * numbers with 0 <= start <= end < size, and exactly what a second, independent reading of RFC 9110
 * (a hand-written scanner with BigInt arithmetic, so no precision is lost) says; a range written
 * back as `bytes=start-end` reads back the same.
 */

type Outcome = ByteRange | 'unsatisfiable' | undefined;
const tally = new Tally();

const isSpace = (c: string) => /\s/.test(c);

/** `bytes=a-b`, `bytes=a-`, `bytes=-n`, unit case-insensitive, whitespace allowed around the parts. */
function expected(header: string, size: number): Outcome {
  let i = 0;
  const skip = () => {
    while (i < header.length && isSpace(header[i]!)) i++;
  };
  const digits = () => {
    const from = i;
    while (i < header.length && header[i]! >= '0' && header[i]! <= '9') i++;
    return header.slice(from, i);
  };
  skip();
  if (header.slice(i, i + 5).toLowerCase() !== 'bytes') return undefined;
  i += 5;
  skip();
  if (header[i] !== '=') return undefined;
  i++;
  skip();
  const first = digits();
  skip();
  if (header[i] !== '-') return undefined;
  i++;
  skip();
  const last = digits();
  skip();
  if (i !== header.length || (first === '' && last === '')) return undefined;
  const total = BigInt(size);
  if (first === '') {
    const suffix = BigInt(last);
    if (suffix === 0n || total === 0n) return 'unsatisfiable';
    const start = total > suffix ? total - suffix : 0n;
    return { start: Number(start), end: size - 1 };
  }
  const start = BigInt(first);
  if (start >= total) return 'unsatisfiable';
  const end = last === '' || BigInt(last) >= total ? total - 1n : BigInt(last);
  return end < start ? undefined : { start: Number(start), end: Number(end) };
}

const same = (a: Outcome, b: Outcome) =>
  typeof a === 'object' && typeof b === 'object' ? a.start === b.start && a.end === b.end : a === b;

function runOne(input: Uint8Array): void {
  const text = Buffer.from(input).toString('latin1');
  const newline = text.indexOf('\n');
  const declared = newline >= 0 ? Number(text.slice(0, newline)) : NaN;
  const size = Number.isSafeInteger(declared) && declared >= 0 ? declared : 1000;
  const header = newline >= 0 ? text.slice(newline + 1) : text;
  const got = parseRange(header, size);
  const want = expected(header, size);
  check(
    same(got, want),
    `parseRange(${JSON.stringify(header.slice(0, 200))}, ${size}) = ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`,
  );
  if (typeof got === 'object') {
    check(
      Number.isSafeInteger(got.start) &&
        Number.isSafeInteger(got.end) &&
        got.start >= 0 &&
        got.start <= got.end &&
        got.end < size,
      `range ${JSON.stringify(got)} is not within a ${size}-byte resource`,
    );
    check(
      same(parseRange(`bytes=${got.start}-${got.end}`, size), got),
      `range ${JSON.stringify(got)} does not read back`,
    );
  }
  tally.add(got === undefined ? 'whole' : got === 'unsatisfiable' ? 'unsatisfiable' : 'range');
}

const position = fc.oneof(
  fc.nat({ max: 2000 }).map(String),
  fc.bigInt({ min: 0n, max: 10n ** 30n }).map(String),
  fc.constantFrom(
    '',
    '0',
    '00',
    '9007199254740991',
    '9007199254740992',
    '1e3',
    '-1',
    '+1',
    '0x10',
    ' 1',
    '1 ',
    '１',
  ),
);
const space = fc.constantFrom('', ' ', '  ', '\t', '\u00a0', '\r\n');
const unit = fc.constantFrom('bytes', 'BYTES', 'Bytes', 'byte', 'items', 'bytes ', '');
const spec = fc
  .tuple(
    space,
    unit,
    space,
    fc.constantFrom('=', ':', '=='),
    space,
    position,
    space,
    fc.constantFrom('-', '--', '', '–'),
    space,
    position,
    space,
  )
  .map((parts) => parts.join(''));
const header = fc.oneof(
  spec,
  fc.array(spec, { minLength: 2, maxLength: 3 }).map((s) => s.join(',')),
  fc.string({ maxLength: 40 }),
);
const size = fc.oneof(fc.nat({ max: 2000 }), fc.constantFrom(0, 1, 2, 2 ** 32, Number.MAX_SAFE_INTEGER));

export const target: FuzzTarget = {
  name: 'range',
  summary:
    'Range headers against resource sizes through parseRange: a range within the size or a refusal, as RFC 9110 reads',
  coverage: ['/src/hosts/http/range.ts'],
  maxInputBytes: 4096,
  defaultSeconds: 30,
  dictionary: ['bytes=', '-', ',', ' ', '0', '9007199254740991', '18446744073709551616', '\n', 'bytes=-'],
  generator: fc.tuple(size, header).map(([s, h]) => new Uint8Array(Buffer.from(`${s}\n${h}`, 'latin1'))),
  run: runOne,
  stats: () => tally.get(),
};
