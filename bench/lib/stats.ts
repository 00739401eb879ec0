export function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function min(values: number[]): number | undefined {
  return values.length === 0 ? undefined : Math.min(...values);
}

export function max(values: number[]): number | undefined {
  return values.length === 0 ? undefined : Math.max(...values);
}

/** Ratio of medians, undefined when either side has no successful round. */
export function ratio(numerator: number[], denominator: number[]): number | undefined {
  const a = median(numerator);
  const b = median(denominator);
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}
