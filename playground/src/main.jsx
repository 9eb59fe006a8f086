// Tributary's playground: GraphiQL on the same origin's /graphql (HTTP for queries and
// mutations, graphql-transport-ws for subscriptions), opening with the demo's examples.
import './workers.js';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import 'graphiql/style.css';
import './playground.css';
import examplesText from './examples.graphql?raw';
import { splitExamples } from './examples.js';

const wsScheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
const fetcher = createGraphiQLFetcher({
  url: `${window.location.origin}/graphql`,
  subscriptionUrl: `${wsScheme}//${window.location.host}/graphql`,
  // Tributary has no @defer/@stream: plain POSTs that ask for graphql-response+json.
  enableIncrementalDelivery: false,
});

const tabs = splitExamples(examplesText);

function Playground() {
  return (
    <GraphiQL
      fetcher={fetcher}
      defaultTabs={tabs}
      defaultQuery={tabs[0]?.query}
      isHeadersEditorEnabled
      shouldPersistHeaders={false}
    >
      <GraphiQL.Logo>Tributary</GraphiQL.Logo>
    </GraphiQL>
  );
}

createRoot(document.getElementById('playground')).render(<Playground />);
