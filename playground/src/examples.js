// Splits examples.graphql into the playground's tabs: a line "# tab: <title>" starts a tab,
// and everything up to the next such line is its document. Pure (no browser, no imports), so
// the test suite's schema check (tests/js/schema_check.mjs) uses it too.

const TAB = /^# tab: (.+)$/;

/** @returns {{ title: string, query: string }[]} */
export function splitExamples(text) {
  const tabs = [];
  let current = null;
  for (const line of text.split(/\r?\n/)) {
    const m = TAB.exec(line);
    if (m) {
      current = { title: m[1].trim(), lines: [] };
      tabs.push(current);
    } else if (current) {
      current.lines.push(line);
    }
  }
  return tabs.map(({ title, lines }) => ({
    title,
    query: `# ${title}\n${lines.join('\n').trim()}\n`,
  }));
}
