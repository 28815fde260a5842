#[tokio::test]
async fn probe() {
    let host = outlayer_conformance::InProcessHost::new().unwrap();
    let r = outlayer_conformance::run_all(&host, std::path::Path::new("/tmp/probe")).await.unwrap();
    println!("{r}");
}
