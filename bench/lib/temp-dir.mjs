// A temporary directory that is removed however the bench ends.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { onCleanup } from './cleanup.mjs';

export async function withTempDir(prefix, use) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  const forget = onCleanup(remove);
  try {
    return await use(dir);
  } finally {
    forget();
    remove();
  }
}
