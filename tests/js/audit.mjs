// The graphql-http conformance audit (GraphQL over HTTP spec) against a running Tributary.
//
//   node audit.mjs http://127.0.0.1:8000/graphql
//
// Prints one JSON array on stdout: one entry per audit with its id, name, requirement level
// (MUST, SHOULD or MAY: the first word of the audit's name, which is how graphql-http itself
// grades a failure as error, warn or notice), status (ok, error, warn, notice) and, for a
// failure, the reason and the response (status and body) that failed it. Exits 2 on a usage
// or fatal error; judging the results is the caller's job (tests/api/conformance.rs).
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql endpoint url>');
  process.exit(2);
}

try {
  const results = await auditServer({ url });
  const out = [];
  for (const result of results) {
    const entry = {
      id: result.id,
      name: result.name,
      level: result.name.split(' ')[0],
      status: result.status,
    };
    if (result.status !== 'ok') {
      entry.reason = result.reason;
      entry.responseStatus = result.response.status;
      try {
        entry.responseBody = await result.response.text();
      } catch (e) {
        entry.responseBody = `(unreadable: ${e})`;
      }
    }
    out.push(entry);
  }
  console.log(JSON.stringify(out, null, 2));
} catch (e) {
  console.error(`the audit failed to run: ${e?.stack ?? e}`);
  process.exit(2);
}
