//! The ceiling for `scripts/bench.sh`: a bare warp server answering a fixed JSON body to GET
//! and to POST (reading the body), on the same runtime, allocator and 2 cores as the site.
//!
//! `cargo run --release -p cinerec-site --example bare -- 127.0.0.1:18181`

use bytes::Bytes;
use warp::Filter;

// The site's allocator, so that the ceiling differs from the site only in what it does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BODY: &str = r#"{"recommended_content_id":[1,2,3,4,5,6,7,8,9,10],"k":10}"#;

#[tokio::main]
async fn main() {
    let address: std::net::SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18181".into())
        .parse()
        .expect("an address like 127.0.0.1:18181");
    let get =
        warp::get().map(|| warp::reply::with_header(BODY, "content-type", "application/json"));
    let post = warp::post()
        .and(warp::body::bytes())
        .map(|_body: Bytes| warp::reply::with_header(BODY, "content-type", "application/json"));
    warp::serve(get.or(post)).run(address).await;
}
