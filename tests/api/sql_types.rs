//! Column types to GraphQL values, exactly, per backend: timestamps, UUIDs, decimals,
//! booleans and JSON, read back and bound as parameters (formats documented in
//! `connectors/src/sql/{postgres,sqlite}.rs`).

use serde_json::{json, Value};

use crate::helpers::{backends, spawn_app, Backend, Spawn, TestDb};

const SDL: &str = r#"
schema @source(name: "main", sql: "{{env.DATABASE_URL}}") { query: Query mutation: Mutation }

scalar DateTime
scalar UUID
scalar Decimal
scalar JSON

type Query {
  samples: [Sample!]! @sql(source: "main", query: "SELECT * FROM samples ORDER BY id")
  sampleByUid(uid: UUID!): Sample
    @sql(source: "main", query: "SELECT * FROM samples WHERE uid = $1", params: ["{{args.uid}}"])
  samplesSince(at: DateTime!): [Sample!]!
    @sql(source: "main", query: "SELECT * FROM samples WHERE at >= $1 ORDER BY id", params: ["{{args.at}}"])
  samplesCosting(amount: Decimal!): [Sample!]!
    @sql(source: "main", query: "SELECT * FROM samples WHERE amount = $1 ORDER BY id", params: ["{{args.amount}}"])
  samplesFlagged(flag: Boolean!): [Sample!]!
    @sql(source: "main", query: "SELECT * FROM samples WHERE flag = $1 ORDER BY id", params: ["{{args.flag}}"])
}

type Mutation {
  addSample(id: ID!, uid: UUID!, at: DateTime!, amount: Decimal!, flag: Boolean!, doc: JSON!): Sample
    @sql(
      source: "main"
      query: "INSERT INTO samples (id, uid, at, amount, flag, doc, raw_doc) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *"
      params: ["{{args.id}}", "{{args.uid}}", "{{args.at}}", "{{args.amount}}", "{{args.flag}}", "{{args.doc}}", "{{args.doc}}"]
    )
}

type Sample {
  id: ID!
  atLocal: DateTime
  at: DateTime
  uid: UUID
  amount: Decimal
  flag: Boolean
  doc: JSON
  rawDoc: JSON
}
"#;

const UUID_1: &str = "67e55044-10b1-426f-9247-bb680e5fe0c8";
const UUID_2: &str = "a1b2c3d4-0000-4000-8000-00000000beef";
const DOC: &str = r#"{"name": "kettle", "sizes": [1, 2.5, -3], "tags": ["a", "b"], "nested": {"ok": true, "none": null}, "count": 12345678901}"#;

fn doc() -> Value {
    serde_json::from_str(DOC).expect("doc")
}

async fn fixture(db: &TestDb) {
    let ddl = match db.backend {
        Backend::Postgres => {
            "CREATE TABLE samples (
               id INTEGER PRIMARY KEY, at_local TIMESTAMP, at TIMESTAMPTZ, uid UUID, amount NUMERIC(12,4),
               flag BOOLEAN, doc JSONB, raw_doc JSON)"
        }
        // SQLite: declared types drive the mapping; exact decimals live in TEXT.
        Backend::Sqlite => {
            "CREATE TABLE samples (
               id INTEGER PRIMARY KEY, at_local DATETIME, at TIMESTAMP, uid TEXT, amount TEXT,
               flag BOOLEAN, doc JSON, raw_doc JSON)"
        }
    };
    db.exec(ddl).await;
    db.exec(&format!(
        "INSERT INTO samples (id, at_local, at, uid, amount, flag, doc, raw_doc) VALUES
           (1, '2024-01-02 03:04:05.123456', '2024-01-02T03:04:05.123456Z', '{UUID_1}', '12345.6789', TRUE, '{DOC}', '{DOC}'),
           (2, '2024-06-30 23:59:59', '2024-06-30T23:59:59+02:00', '{UUID_2}', '-0.0001', FALSE, '[]', 'null'),
           (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
    ))
    .await;
}

const ALL: &str = "{ samples { id atLocal at uid amount flag doc rawDoc } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_uuids_decimals_booleans_and_json_read_back_exactly() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        fixture(&db).await;
        let app = spawn_app(Spawn::with_schema(&db, SDL)).await;
        let body = app.query(ALL, Value::Null).await;
        assert!(body.get("errors").is_none(), "{backend:?}: {body}");
        // A TIMESTAMP without zone is the wall time on PostgreSQL; SQLite's DATETIME text is
        // taken as UTC and written like TIMESTAMPTZ.
        let (local_1, local_2) = match backend {
            Backend::Postgres => ("2024-01-02T03:04:05.123456", "2024-06-30T23:59:59"),
            Backend::Sqlite => ("2024-01-02T03:04:05.123456Z", "2024-06-30T23:59:59Z"),
        };
        assert_eq!(
            body["data"]["samples"],
            json!([
                {
                    "id": "1",
                    "atLocal": local_1,
                    "at": "2024-01-02T03:04:05.123456Z",
                    "uid": UUID_1,
                    "amount": "12345.6789",
                    "flag": true,
                    "doc": doc(),
                    "rawDoc": doc()
                },
                {
                    "id": "2",
                    "atLocal": local_2,
                    "at": "2024-06-30T21:59:59Z",
                    "uid": UUID_2,
                    "amount": "-0.0001",
                    "flag": false,
                    "doc": [],
                    "rawDoc": null
                },
                {"id": "3", "atLocal": null, "at": null, "uid": null, "amount": null, "flag": null, "doc": null, "rawDoc": null}
            ]),
            "{backend:?}"
        );
        // JSON numbers keep their kind: integers stay integers, even past 32 bits.
        let sizes = &body["data"]["samples"][0]["doc"]["sizes"];
        assert!(sizes[0].is_i64() && sizes[1].is_f64(), "{sizes}");
        assert!(body["data"]["samples"][0]["doc"]["count"].is_i64());
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_arguments_bind_to_their_columns() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        fixture(&db).await;
        let app = spawn_app(Spawn::with_schema(&db, SDL)).await;
        let body = app
            .query(
                "query($u: UUID!) { sampleByUid(uid: $u) { id } }",
                json!({"u": UUID_2}),
            )
            .await;
        assert_eq!(
            body,
            json!({"data": {"sampleByUid": {"id": "2"}}}),
            "{backend:?}"
        );
        let body = app
            .query(
                "query($a: Decimal!) { samplesCosting(amount: $a) { id } }",
                json!({"a": "12345.6789"}),
            )
            .await;
        assert_eq!(
            body,
            json!({"data": {"samplesCosting": [{"id": "1"}]}}),
            "{backend:?}"
        );
        let body = app
            .query("{ samplesFlagged(flag: false) { id } }", Value::Null)
            .await;
        assert_eq!(
            body,
            json!({"data": {"samplesFlagged": [{"id": "2"}]}}),
            "{backend:?}"
        );
        let body = app
            .query("{ samplesFlagged(flag: true) { id } }", Value::Null)
            .await;
        assert_eq!(
            body,
            json!({"data": {"samplesFlagged": [{"id": "1"}]}}),
            "{backend:?}"
        );
        if backend == Backend::Postgres {
            // PostgreSQL compares instants: the same moment in another offset matches.
            let body = app
                .query(
                    "query($t: DateTime!) { samplesSince(at: $t) { id } }",
                    json!({"t": "2024-07-01T00:59:59+03:00"}),
                )
                .await;
            assert_eq!(
                body,
                json!({"data": {"samplesSince": [{"id": "2"}]}}),
                "{body}"
            );
            // A malformed UUID is the client's mistake, not the database's.
            let body = app
                .query(r#"{ sampleByUid(uid: "not-a-uuid") { id } }"#, Value::Null)
                .await;
            assert_eq!(body["data"], json!({"sampleByUid": null}), "{body}");
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
                "{body}"
            );
        }
        app.stop().await;
        db.drop_db().await;
    }
}

const ADD: &str = "mutation($doc: JSON!) {
  addSample(id: 10, uid: \"0d3f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b\", at: \"2025-02-03 04:05:06.789\",
            amount: \"98765432.1234\", flag: true, doc: $doc) {
    id at uid amount flag doc rawDoc
  }
}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_written_through_parameters_read_back_the_same() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        fixture(&db).await;
        let app = spawn_app(Spawn::with_schema(&db, SDL)).await;
        let (status, body) = app.post(ADD, json!({"doc": doc()})).await;
        assert_eq!(status, 200);
        assert!(body.get("errors").is_none(), "{backend:?}: {body}");
        let added = &body["data"]["addSample"];
        // A timestamp without offset is UTC; it comes back in RFC 3339.
        assert_eq!(added["id"], "10", "{body}");
        assert_eq!(
            added["at"], "2025-02-03T04:05:06.789Z",
            "{backend:?}: {body}"
        );
        assert_eq!(
            added["uid"], "0d3f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
            "{body}"
        );
        assert_eq!(added["amount"], "98765432.1234", "{body}");
        assert_eq!(added["flag"], true, "{body}");
        if backend == Backend::Postgres {
            assert_eq!(added["doc"], doc(), "{body}");
            assert_eq!(added["rawDoc"], doc(), "{body}");
        }
        // Read back by a query: the stored values are the ones sent.
        let body = app.query(ALL, Value::Null).await;
        let stored = &body["data"]["samples"][3];
        assert_eq!(
            stored,
            &json!({
                "id": "10",
                "atLocal": null,
                "at": "2025-02-03T04:05:06.789Z",
                "uid": "0d3f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
                "amount": "98765432.1234",
                "flag": true,
                "doc": doc(),
                "rawDoc": doc()
            }),
            "{backend:?}: {body}"
        );
        app.stop().await;
        db.drop_db().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_columns_returned_by_insert_returning_are_json_values() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        fixture(&db).await;
        let app = spawn_app(Spawn::with_schema(&db, SDL)).await;
        let (status, body) = app.post(ADD, json!({"doc": doc()})).await;
        assert_eq!(status, 200);
        assert_eq!(
            body["data"]["addSample"]["doc"],
            doc(),
            "{backend:?}: {body}"
        );
        assert_eq!(
            body["data"]["addSample"]["rawDoc"],
            doc(),
            "{backend:?}: {body}"
        );
        app.stop().await;
        db.drop_db().await;
    }
}
