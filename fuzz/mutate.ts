/**
 * Byte-level mutation in the manner of AFL's havoc stage: a stack of 1-8 random edits (bit flips,
 * random, printable and interesting bytes, interesting integers over 2 or 4 bytes, arithmetic,
 * deletions, copies, insertions, dictionary tokens, a splice with another corpus entry), a third of
 * them in the first 16 bytes, bounded by the target's largest input.
 */

/** A small seeded PRNG (mulberry32): a run is reproducible from its seed. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A 32-bit unsigned integer. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return n <= 1 ? 0 : this.next() % n;
  }

  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x20, 0x2f, 0x2e, 0x25, 0x0a];
const INTERESTING_32 = [
  0, 1, 8, 16, 0x7f, 0xff, 0x100, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff,
];

export interface MutationContext {
  rng: Rng;
  maxBytes: number;
  dictionary: readonly Uint8Array[];
  /** Another corpus entry, for a splice. */
  other: () => Uint8Array;
}

export function mutate(input: Uint8Array, ctx: MutationContext): Uint8Array {
  let data: Uint8Array = Uint8Array.from(input);
  const edits = 1 + ctx.rng.below(8);
  for (let i = 0; i < edits; i++) data = edit(data, ctx);
  return data.length > ctx.maxBytes ? data.subarray(0, ctx.maxBytes) : data;
}

function edit(data: Uint8Array, ctx: MutationContext): Uint8Array {
  const { rng } = ctx;
  // A third of the edits land in the first 16 bytes: magic numbers, headers, prefixes.
  const at = (room = 1) => {
    const span = Math.max(1, data.length - room + 1);
    return rng.below(rng.chance(0.33) ? Math.min(span, 16) : span);
  };
  const insert = (chunk: Uint8Array, pos: number) => {
    const out = new Uint8Array(data.length + chunk.length);
    out.set(data.subarray(0, pos));
    out.set(chunk, pos);
    out.set(data.subarray(pos), pos + chunk.length);
    return out;
  };
  const choice = data.length === 0 ? 7 : rng.below(13);
  switch (choice) {
    case 0: {
      const p = at();
      data[p]! ^= 1 << rng.below(8);
      return data;
    }
    case 1:
      data[at()] = rng.below(256);
      return data;
    case 2:
      data[at()] = rng.pick(INTERESTING_8);
      return data;
    case 3: {
      // An interesting 16- or 32-bit value, big- or little-endian (box sizes, counts, lengths).
      const width = rng.chance(0.5) ? 4 : 2;
      if (data.length < width) return data;
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      const value = rng.chance(0.2) ? data.length + rng.below(17) - 8 : rng.pick(INTERESTING_32);
      const little = rng.chance(0.3);
      if (width === 4) view.setUint32(at(4), value >>> 0, little);
      else view.setUint16(at(2), value & 0xffff, little);
      return data;
    }
    case 4: {
      // Arithmetic on a byte or a big-endian 32-bit word.
      const delta = rng.below(35) - 17;
      if (data.length >= 4 && rng.chance(0.5)) {
        const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
        const p = at(4);
        view.setUint32(p, (view.getUint32(p) + delta) >>> 0);
      } else {
        const p = at();
        data[p] = (data[p]! + delta) & 0xff;
      }
      return data;
    }
    case 5: {
      const from = at();
      const length = 1 + rng.below(Math.min(data.length - from, rng.chance(0.8) ? 16 : 4096));
      const out = new Uint8Array(data.length - length);
      out.set(data.subarray(0, from));
      out.set(data.subarray(from + length), from);
      return out;
    }
    case 6: {
      const from = at();
      const length = 1 + rng.below(Math.min(data.length - from, 256));
      return insert(data.slice(from, from + length), rng.below(data.length + 1));
    }
    case 7: {
      const length = 1 + rng.below(rng.chance(0.9) ? 8 : 512);
      const chunk = new Uint8Array(length).map(() => rng.below(256));
      return insert(chunk, rng.below(data.length + 1));
    }
    case 8:
    case 9: {
      if (ctx.dictionary.length === 0) return data;
      const token = rng.pick(ctx.dictionary);
      const pos = rng.below(data.length + 1);
      if (rng.chance(0.5)) return insert(token, pos);
      const out = data.length >= pos + token.length ? data : insert(new Uint8Array(token.length), pos);
      out.set(token, pos);
      return out;
    }
    case 10: {
      const other = ctx.other();
      if (other.length === 0) return data;
      const cut = rng.below(data.length + 1);
      const from = rng.below(other.length);
      const joined = new Uint8Array(cut + other.length - from);
      joined.set(data.subarray(0, cut));
      joined.set(other.subarray(from), cut);
      return joined;
    }
    case 11:
      // A printable ASCII character: text formats compare with those.
      data[at()] = 0x20 + rng.below(95);
      return data;
    default:
      return data.subarray(0, rng.below(data.length + 1)).slice();
  }
}
