import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh directory under the system's temp directory. */
export const tempDir = (label = 'qa-test-'): string => mkdtempSync(join(tmpdir(), label));

/** A dead-letter file path in a fresh temp directory, so tests never write into the checkout. */
export const deadLetterFile = (): string => join(tempDir('qa-dead-letters-'), 'dead-letters.jsonl');
