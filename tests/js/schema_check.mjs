// Checks `tributary print-schema` output the way codegen tools use it: loads the SDL with
// graphql-js `buildSchema`, then validates every example operation of the playground
// (playground/src/examples.graphql, split into tabs as the playground does) against it.
//
//   node schema_check.mjs <client schema .graphql> [examples .graphql]
//
// Prints one JSON line ({ types, tabs, operations }) and exits 0 when everything validates;
// prints each error (tab, operation, message, line:column) and exits 1 otherwise; 2 on a
// usage error or when the SDL does not load.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildSchema, parse, validate, Kind } from 'graphql';
import { splitExamples } from '../../playground/src/examples.js';

const [schemaPath, examplesArg] = process.argv.slice(2);
if (!schemaPath) {
  console.error('usage: node schema_check.mjs <client schema .graphql> [examples .graphql]');
  process.exit(2);
}
const examplesPath =
  examplesArg ?? fileURLToPath(new URL('../../playground/src/examples.graphql', import.meta.url));

let schema;
try {
  schema = buildSchema(readFileSync(schemaPath, 'utf8'));
} catch (e) {
  console.error(`the client schema does not load in graphql-js buildSchema: ${e.message}`);
  process.exit(2);
}

const tabs = splitExamples(readFileSync(examplesPath, 'utf8'));
const failures = [];
let operations = 0;
for (const tab of tabs) {
  let doc;
  try {
    doc = parse(tab.query);
  } catch (e) {
    failures.push(`tab "${tab.title}": does not parse: ${e.message}`);
    continue;
  }
  const names = doc.definitions
    .filter((d) => d.kind === Kind.OPERATION_DEFINITION)
    .map((d) => d.name?.value ?? '(anonymous)');
  operations += names.length;
  for (const error of validate(schema, doc)) {
    const at = (error.locations ?? []).map((l) => `${l.line}:${l.column}`).join(', ');
    failures.push(`tab "${tab.title}" (${names.join(', ')}): ${error.message}${at ? ` at ${at}` : ''}`);
  }
}
if (tabs.length === 0 || operations === 0) {
  failures.push(`no example operations found in ${examplesPath}`);
}
if (failures.length) {
  console.error(failures.join('\n'));
  process.exit(1);
}
console.log(
  JSON.stringify({
    types: Object.keys(schema.getTypeMap()).filter((n) => !n.startsWith('__')).length,
    tabs: tabs.length,
    operations,
  }),
);
