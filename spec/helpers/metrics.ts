/** `name{a="b",c="d"}` -> its name and labels. */
const parseSeries = (series: string): { name: string; labels: Record<string, string> } => {
  const brace = series.indexOf('{');
  if (brace < 0) return { name: series, labels: {} };
  const labels = Object.fromEntries(
    [...series.slice(brace + 1, -1).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
  );
  return { name: series.slice(0, brace), labels };
};

/**
 * The value of `series` in a Prometheus exposition, summed over every sample of that name whose labels
 * include the ones asked for (`x_total` is the total over flows; `x_total{reason="stale"}` over the
 * flows' samples of that reason). Undefined when no sample matches.
 */
export const sample = (exposition: string, series: string): number | undefined => {
  const wanted = parseSeries(series);
  let total: number | undefined;
  for (const line of exposition.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const space = line.lastIndexOf(' ');
    const got = parseSeries(line.slice(0, space));
    if (got.name !== wanted.name) continue;
    if (!Object.entries(wanted.labels).every(([key, value]) => got.labels[key] === value)) continue;
    total = (total ?? 0) + Number(line.slice(space + 1));
  }
  return total;
};
