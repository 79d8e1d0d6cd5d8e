
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_collect_now_unchanged() {
    let rivet = Rivet::start().await;
    let agent = rivet.agent().await;
    let root = debian_root();
    let clock = rivet.stepping_clock();
    let sources = Sources { clock: &clock, random: &|| 0.5 };
    let options = options(&agent, root.path(), Backoff::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let service = rivet_agent::service::run(&options, sources, async { let _ = stopped.await; });
    let (r, host) = (&rivet, agent.host.as_str());
    let driver = async {
        eventually("the first upload", move || holds_an_inventory(r, host)).await;
        eventually("a long poll", move || async move { r.waiting_checkins() == 1 }).await;
        let t0 = r.now();
        r.collect(host).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        eprintln!("PROBE clock advanced {} s in 2 real s; waiting {}; collect_requested_at {}", r.now().duration_since(t0).as_secs(), r.waiting_checkins(), r.host(host).await["collect_requested_at"]);
        stop.send(()).unwrap();
    };
    let (_s, ()) = tokio::join!(service, driver);
}
