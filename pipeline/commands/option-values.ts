import { InvalidArgumentError } from 'commander';

/** Commander's parser for an option taking a whole number of at least 1 (`--limit 20`); else a usage error. */
export const positiveInteger = (text: string): number => {
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1)
    throw new InvalidArgumentError(`expected a whole number of at least 1, got ${JSON.stringify(text)}`);
  return Number(text);
};
