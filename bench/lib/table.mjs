// Plain-text table for terminals and logs: one header row, a rule, aligned cells.

/**
 * columns: [{ key, title, align: 'left' | 'right' }]; rows: objects whose
 * values are already formatted strings (missing ones print empty).
 */
export function formatTable(columns, rows) {
  const cells = rows.map((row) => columns.map((column) => String(row[column.key] ?? '')));
  const widths = columns.map((column, i) => Math.max(column.title.length, ...cells.map((line) => line[i].length)));
  const render = (values) =>
    values
      .map((value, i) => (columns[i].align === 'right' ? value.padStart(widths[i]) : value.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [render(columns.map((column) => column.title)), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(render)].join('\n');
}
