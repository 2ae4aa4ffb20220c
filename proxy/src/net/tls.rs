//! TLS with rustls (ring provider): the data listener's server side, with certificates that a
//! reload swaps without touching open connections, and the upstream client side (webpki roots
//! plus an optional CA file, SNI from the URL, optional client certificate for mTLS).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use config::{Tls, Upstream};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading certificates from {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificates in {}", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{} holds no PEM certificate",
        path.display()
    );
    Ok(certs)
}

fn key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("reading a PEM private key from {}", path.display()))
}

/// The data listener's TLS config: the certificate chain and key, ALPN `h2` then `http/1.1`.
pub fn server_config(tls: &Tls) -> anyhow::Result<Arc<ServerConfig>> {
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs(&tls.cert)?, key(&tls.key)?)
        .context("the TLS certificate and key do not form a usable pair")?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The server config new handshakes use; swapped whole on reload.
pub struct ServerTls(ArcSwap<ServerConfig>);

impl ServerTls {
    pub fn new(tls: &Tls) -> anyhow::Result<Self> {
        Ok(Self(ArcSwap::new(server_config(tls)?)))
    }

    /// Put a config built by [`server_config`] in force for new handshakes; open connections
    /// keep theirs.
    pub fn install(&self, config: Arc<ServerConfig>) {
        self.0.store(config);
    }

    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.0.load_full())
    }
}

/// The client config for one upstream leg.
/// Trusting the public roots alone, no client certificate: control-plane calls (Prometheus
/// gates, webhooks, `ctl`).
pub fn public_client_config() -> anyhow::Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

pub fn client_config(up: &Upstream) -> anyhow::Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(ca) = &up.ca_file {
        for cert in certs(ca)? {
            roots
                .add(cert)
                .with_context(|| format!("adding a CA from {}", ca.display()))?;
        }
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let cfg = match (&up.client_cert, &up.client_key) {
        (Some(cert), Some(k)) => builder
            .with_client_auth_cert(certs(cert)?, key(k)?)
            .context("the client certificate and key do not form a usable pair")?,
        _ => builder.with_no_client_auth(),
    };
    Ok(cfg)
}
