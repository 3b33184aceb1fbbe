// User and group names from /etc/passwd and /etc/group, so a report can say
// "gid 29 (audio)". Names are a courtesy: an unreadable or odd file gives no
// names, never a failure, since the numbers are what supplementalGroups needs.
import { readFileSync } from 'node:fs';

export interface AccountNames {
  users: Map<number, string>;
  groups: Map<number, string>;
}

// Both files are name:password:id:… lines; the first entry for an id wins,
// as getpwuid() and getgrgid() do.
function namesById(path: string): Map<number, string> {
  const names = new Map<number, string>();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return names;
  }
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':');
    if (!name || id === undefined || !/^\d+$/.test(id) || name.startsWith('#')) continue;
    if (!names.has(Number(id))) names.set(Number(id), name);
  }
  return names;
}

export function readAccountNames(passwdPath: string, groupPath: string): AccountNames {
  return { users: namesById(passwdPath), groups: namesById(groupPath) };
}

/** "29 (audio)", or "4242" when the id has no name. */
export function describeId(id: number, names: Map<number, string>): string {
  const name = names.get(id);
  return name === undefined ? String(id) : `${id} (${name})`;
}
