// The shape of src/, read from its imports: no cycle between folders (each
// file at the top of src/ counts as a folder of its own); routes reach the
// engine only through its public modules (a stream's life is the engine's);
// nothing outside engine/ drives the addon's devices and streams;
// and reading the configuration does not load the addon (a bad environment
// must be reported even where the addon cannot load).
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const SRC = path.resolve(__dirname, '../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Each file's relative imports (static, type-only included, and dynamic), as files of src/. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/(?:from|import\(|require\()\s*'(\.{1,2}\/[^']+)'/g)].map((match) => {
      const target = path.resolve(path.dirname(file), match[1]!);
      return target.endsWith('.ts') ? target : `${target}.ts`;
    });
    graph.set(file, targets);
  }
  return graph;
}

/** The folder of src/ a file belongs to; a file at the top is its own. */
function unit(file: string): string {
  const relative = path.relative(SRC, file);
  return relative.includes(path.sep) ? `${relative.split(path.sep)[0]}/` : relative;
}

/** Strongly connected components of more than one node (Tarjan). */
function cycles(edges: Map<string, Set<string>>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    indices.set(node, index);
    low.set(node, index++);
    stack.push(node);
    onStack.add(node);
    for (const next of edges.get(node) ?? []) {
      if (!indices.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, indices.get(next)!));
      }
    }
    if (low.get(node) === indices.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const node of edges.keys()) if (!indices.has(node)) visit(node);
  return found;
}

const graph = importGraph();

t.test('every import resolves to a file of src/', async (t) => {
  for (const [file, targets] of graph) {
    for (const target of targets) t.ok(graph.has(target), `${path.relative(SRC, file)} imports ${path.relative(SRC, target)}`);
  }
});

t.test('no cycle between files', async (t) => {
  const edges = new Map([...graph].map(([file, targets]) => [file, new Set(targets)]));
  t.same(cycles(edges).map((component) => component.map((file) => path.relative(SRC, file))), []);
});

t.test('no cycle between folders', async (t) => {
  const edges = new Map<string, Set<string>>();
  const witnesses = new Map<string, string>();
  for (const [file, targets] of graph) {
    for (const target of targets) {
      const [from, to] = [unit(file), unit(target)];
      if (from === to) continue;
      if (!edges.has(from)) edges.set(from, new Set());
      edges.get(from)!.add(to);
      witnesses.set(`${from} -> ${to}`, `${path.relative(SRC, file)} imports ${path.relative(SRC, target)}`);
    }
  }
  const found = cycles(edges);
  // On failure, name an import behind each edge of the cycle.
  const explained = found.map((component) => [...witnesses].filter(([edge]) => component.some((a) => component.some((b) => edge === `${a} -> ${b}`))).map(([, why]) => why));
  t.same(explained, [], 'folders that import each other, with an import behind each edge');
});

t.test('routes reach the engine only through its public modules', async (t) => {
  const PUBLIC = new Set(['engine/engine.ts', 'engine/playback.ts']);
  const reached: string[] = [];
  for (const [file, targets] of graph) {
    if (unit(file) !== 'routes/') continue;
    for (const target of targets) {
      const relative = path.relative(SRC, target);
      if (unit(target) === 'engine/' && !PUBLIC.has(relative)) reached.push(`${path.relative(SRC, file)} imports ${relative}`);
    }
  }
  t.same(reached, []);
});

t.test("outside engine/, nothing drives the addon's devices and streams", async (t) => {
  // What may load the addon from outside engine/, and why: a parse of ALSA
  // configuration text (no device), and two constants the doctor reports.
  const ALLOWED = new Set(['config-check.ts -> engine/native.ts', 'diagnostics/process-state.ts -> engine/addon.ts']);
  const ADDON = new Set(['engine/native.ts', 'engine/addon.ts', 'engine/converter.ts', 'engine/hardware-volume.ts']);
  const reached: string[] = [];
  for (const [file, targets] of graph) {
    if (unit(file) === 'engine/') continue;
    for (const target of targets) {
      const edge = `${path.relative(SRC, file)} -> ${path.relative(SRC, target)}`;
      if (ADDON.has(path.relative(SRC, target)) && !ALLOWED.has(edge)) reached.push(edge);
    }
  }
  t.same(reached, []);
});

t.test('reading the configuration does not load the addon', async (t) => {
  const reached = new Set<string>();
  const walk = (file: string) => {
    if (reached.has(file)) return;
    reached.add(file);
    for (const target of graph.get(file) ?? []) walk(target);
  };
  walk(path.join(SRC, 'config.ts'));
  t.notOk(reached.has(path.join(SRC, 'engine/addon.ts')), `config.ts reaches ${[...reached].map((file) => path.relative(SRC, file)).join(', ')}`);
});
