//! The running proxy: bind both listeners, serve until told to stop, drain; and the process
//! around it (runtime, signals).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

use config::{Config, Overrides};

use crate::state::{ReloadSource, Shared};

/// A running proxy: its bound addresses and a handle to stop it.
pub struct Running {
    pub listen: std::net::SocketAddr,
    pub admin: std::net::SocketAddr,
    pub shared: Arc<Shared>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    /// The thread saving signatures and learned noise to `state_dir`, and its stop flag.
    saver: Option<(std::thread::JoinHandle<()>, Arc<AtomicBool>)>,
}

impl Running {
    /// Stop accepting, drain, and wait until everything has ended.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        // Connections and mirrors are done; queued comparisons finish before we return.
        // Then recordings still waiting for a verdict reach the writer, which finishes its file.
        let shared = self.shared.clone();
        let saver = self.saver;
        let _ = tokio::task::spawn_blocking(move || {
            // Mirrors still in flight past the grace period end here, each counted `shutdown`.
            shared.mirror_thread.stop();
            shared.cutovers.save_now();
            shared.compare.close();
            if let Some(recorder) = &shared.recorder {
                recorder.close();
            }
            // After the last comparison: what it taught is saved too.
            if let Some((thread, stop)) = saver {
                stop.store(true, Ordering::Release);
                thread.thread().unpark();
                let _ = thread.join();
            }
        })
        .await;
    }
}

/// Bind both listeners and serve until [`Running::shutdown`].
pub async fn start(shared: Arc<Shared>) -> anyhow::Result<Running> {
    let (listen_addr, admin_addr, grace) = {
        let snap = shared.snapshot.load();
        (
            snap.config.listen,
            snap.config.admin,
            snap.config.shutdown_grace,
        )
    };
    let data = TcpListener::bind(listen_addr)
        .await
        .with_context(|| format!("binding data listener {listen_addr}"))?;
    let admin_l = TcpListener::bind(admin_addr)
        .await
        .with_context(|| format!("binding admin listener {admin_addr}"))?;
    let listen = data.local_addr()?;
    let admin = admin_l.local_addr()?;
    tracing::info!(%listen, %admin, "listening");
    // The state as started (resumed or fresh), before any request is served under it.
    shared.cutovers.save();
    let saver = match &shared.store {
        Some(store) => {
            let stop = Arc::new(AtomicBool::new(false));
            let o = &shared.outlets;
            let thread = crate::state::store::spawn_saver(
                store.clone(),
                o.signatures.clone(),
                o.noise.clone(),
                stop.clone(),
            )?;
            Some((thread, stop))
        }
        None => None,
    };

    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let admin_task = tokio::spawn(crate::admin::serve(
        admin_l,
        shared.clone(),
        wait_for(stop_rx.clone()),
    ));
    // The cutover controller: judges each route's gates every interval, even while no route
    // is in canary (a reload can start one).
    tokio::spawn(crate::app::controller::run(
        shared.clone(),
        wait_for(stop_rx.clone()),
    ));
    // The adaptive mirror limit: probes this runtime's scheduling delay, updates every window.
    tokio::spawn(crate::mirror::limit::run(
        shared.mirror_limit.clone(),
        wait_for(stop_rx.clone()),
    ));
    let data_task = tokio::spawn(crate::listen::data::serve(
        data,
        shared.clone(),
        wait_for(stop_rx),
        grace,
    ));
    shared.ready.store(true, Ordering::Release);
    let s = shared.clone();
    let task = tokio::spawn(async move {
        let _ = data_task.await;
        s.ready.store(false, Ordering::Release);
        let _ = admin_task.await;
    });
    Ok(Running {
        listen,
        admin,
        shared,
        stop,
        task,
        saver,
    })
}

async fn wait_for(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// The I/O runtime. With one worker (the default) it is a current-thread runtime: no work
/// stealing, no cross-thread wake-ups, measured ~25 % less CPU per proxied request than a
/// multi-threaded one on 2 cores. Comparisons have threads of their own either way.
pub fn runtime(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    builder
        .enable_all()
        .thread_name("shadowdiff-io")
        .build()
        .context("starting the runtime")
}

/// Run the proxy until SIGTERM or SIGINT; SIGHUP re-reads the config file.
pub async fn until_signalled(
    config: Config,
    file: Option<PathBuf>,
    overrides: Overrides,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let shared = Shared::new(config)?;
    shared.set_reload_source(ReloadSource { file, overrides });
    let running = start(shared.clone()).await?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            // Flags given at start still win over the re-read file.
            _ = hup.recv() => {
                if let Err(e) = shared.reload_from_source() {
                    tracing::error!(error = %e, "reload rejected; keeping the old configuration");
                }
            }
        }
    }
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}
