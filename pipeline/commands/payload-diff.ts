/**
 * A line diff of two payloads as indented JSON, keys in the order each was written (the payload as
 * sent, the expectation as the test file has it): `-` lines only expected, `+` lines only got.
 */
export const payloadDiff = (expected: unknown, got: unknown): string => {
  const a = JSON.stringify(expected, null, 2).split('\n');
  const b = JSON.stringify(got, null, 2).split('\n');
  // Longest common subsequence table, from the ends.
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--)
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const lines: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      lines.push(`  ${a[i++]}`);
      j++;
    } else if (j < b.length && (i === a.length || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) lines.push(`+ ${b[j++]}`);
    else lines.push(`- ${a[i++]}`);
  }
  return lines.join('\n');
};
