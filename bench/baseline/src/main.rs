//! Baseline for `bench/`: the benchmark schema hand-written with async-graphql the usual way
//! (derive types, axum, one keep-alive reqwest client, a per-request DataLoader with default
//! settings resolving `Post.user`). Tributary's figures are quoted as ratios to this server's,
//! measured in the same run, so it must stay a fair, idiomatic implementation.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde::Deserialize;

const UPSTREAM: &str = "http://127.0.0.1:3000";

#[derive(SimpleObject, Deserialize, Clone)]
#[graphql(complex)]
#[serde(rename_all = "camelCase")]
struct Post {
    id: i64,
    user_id: i64,
    title: String,
    body: String,
}

#[derive(SimpleObject, Deserialize, Clone)]
struct User {
    id: i64,
    name: String,
    username: String,
    email: String,
    phone: Option<String>,
    website: Option<String>,
}

struct UserLoader {
    client: reqwest::Client,
}

impl Loader<i64> for UserLoader {
    type Value = User;
    type Error = String;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, User>, String> {
        let calls = keys.iter().map(|id| {
            let client = self.client.clone();
            async move {
                let user: User = client
                    .get(format!("{UPSTREAM}/users/{id}"))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>((*id, user))
            }
        });
        // One call per key, concurrently: the upstream has no batch endpoint.
        async_graphql::futures_util::future::join_all(calls)
            .await
            .into_iter()
            .collect()
    }
}

#[async_graphql::ComplexObject]
impl Post {
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let loader = ctx.data_unchecked::<DataLoader<UserLoader, HashMapCache>>();
        Ok(loader.load_one(self.user_id).await?)
    }
}

struct Query;

#[Object]
impl Query {
    async fn posts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Post>> {
        let client = ctx.data_unchecked::<reqwest::Client>();
        Ok(client
            .get(format!("{UPSTREAM}/posts"))
            .send()
            .await?
            .json()
            .await?)
    }

    async fn greet(&self) -> &'static str {
        "Hello World!"
    }
}

type BenchSchema = Schema<Query, EmptyMutation, EmptySubscription>;

async fn graphql(
    State((schema, client)): State<(BenchSchema, reqwest::Client)>,
    req: GraphQLRequest,
) -> GraphQLResponse {
    // Per request, default settings, with the request-scoped cache the suite's entry uses (a
    // key split into two batches under load is still fetched once per request).
    let loader =
        DataLoader::with_cache(UserLoader { client }, tokio::spawn, HashMapCache::default());
    schema.execute(req.into_inner().data(loader)).await.into()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8000".into());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(200)
        .build()
        .map_err(std::io::Error::other)?;
    let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
        .data(client.clone())
        .finish();
    let app = Router::new()
        .route("/graphql", post(graphql))
        .with_state((schema, client));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("baseline listening on {addr}");
    axum::serve(listener, app).await
}
