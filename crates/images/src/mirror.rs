//! Mirrors: third-party images copied into the registry. Registry to registry when the
//! source answers (manifests copied byte for byte, so the digest stays the same), else
//! from the local Docker engine if it has the image.

use std::time::Instant;

use oci_client::Reference;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::events::ImageEvent;
use crate::pipeline::{ImagePlan, Images};
use crate::push::{LayerStore, PushOptions, PushedImage, progress_stream};
use crate::reference::ImageRef;
use crate::registry::{DOCKER_MANIFEST_LIST, OCI_INDEX, RegistryClient};
use crate::spec::ImageKind;

impl Images {
    /// Copies one mirror; returns the push and, when copied from the source registry, the
    /// source digest.
    pub(crate) async fn mirror_one(
        &self,
        plan: &ImagePlan,
        reg: &RegistryClient,
        layers: &LayerStore,
        opts: &PushOptions,
    ) -> Result<(PushedImage, Option<String>)> {
        let ImageKind::Mirror(m) = &plan.spec.kind else {
            return Err(Error::InvalidValue {
                what: "mirror",
                value: plan.name.clone(),
                origin: plan.spec.describe(),
                why: "not a mirror".into(),
            });
        };
        let source = ImageRef::parse(&m.source, &m.origin)?;
        let target = ImageRef::parse(&plan.reference, "plan")?.to_oci();
        let src_ref = source.to_oci();
        let host = src_ref.resolve_registry().to_string();

        // Loopback registries are often plain HTTP (Docker treats 127.0.0.0/8 as
        // insecure): try HTTPS first, then HTTP, like the engine does.
        let mut protocols = vec![false];
        if is_loopback(&host) {
            protocols.push(true);
        }
        let mut registry_error = String::new();
        for plain in protocols {
            let src = RegistryClient::for_source(&host, plain)?;
            match self
                .copy_from_registry(&plan.name, &src, &src_ref, reg, &target)
                .await
            {
                Ok(done) => {
                    self.emit(ImageEvent::MirrorSource {
                        image: plan.name.clone(),
                        source: m.source.clone(),
                        via: "registry".into(),
                        why: format!("{host} answered"),
                    });
                    return Ok(done);
                }
                Err(e) => {
                    let retry = matches!(
                        e,
                        Error::RegistryUnreachable { .. }
                            | Error::RegistryConnectionLost { .. }
                            | Error::RegistryCertificate { .. }
                    );
                    registry_error = e.to_string();
                    if !retry {
                        break;
                    }
                }
            }
        }

        let local = match self.docker.image_id(&m.source).await? {
            Some(id) => Some(id),
            None => self.docker.image_id(&source.canonical()).await?,
        };
        let Some(id) = local else {
            return Err(Error::Mirror {
                source_ref: m.source.clone(),
                registry_error,
                daemon_error: format!(
                    "the engine at {} has no image {}",
                    self.docker.endpoint(),
                    m.source
                ),
            });
        };
        self.emit(ImageEvent::MirrorSource {
            image: plan.name.clone(),
            source: m.source.clone(),
            via: "daemon".into(),
            why: format!("source registry failed ({registry_error}); the local engine has it"),
        });
        let pushed = self
            .push_from_daemon(&plan.name, &id, &target, reg, layers, opts)
            .await?;
        Ok((pushed, None))
    }

    async fn copy_from_registry(
        &self,
        name: &str,
        src: &RegistryClient,
        src_ref: &Reference,
        dst: &RegistryClient,
        target: &Reference,
    ) -> Result<(PushedImage, Option<String>)> {
        let started = Instant::now();
        let (body, src_digest, media_type) = src.pull_manifest(src_ref).await?;
        let mut stats = CopyStats::default();
        if media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST {
            let index: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| Error::Registry {
                    registry: src.host().to_string(),
                    action: format!("read the index of {src_ref}"),
                    message: e.to_string(),
                })?;
            let children: Vec<String> = index["manifests"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["digest"].as_str().map(str::to_string))
                .collect();
            for child in children {
                let child_src = src_ref.clone_with_digest(child.clone());
                let (child_body, _, child_type) = src.pull_manifest(&child_src).await?;
                self.copy_blobs(name, src, &child_src, &child_body, dst, target, &mut stats)
                    .await?;
                dst.push_manifest(
                    &target.clone_with_digest(child),
                    bytes::Bytes::from(child_body.to_vec()),
                    &child_type,
                )
                .await?;
            }
        } else {
            self.copy_blobs(name, src, src_ref, &body, dst, target, &mut stats)
                .await?;
        }
        dst.push_manifest(target, body.clone(), &media_type).await?;
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
        let reference = target.whole();
        Ok((
            PushedImage {
                name: name.to_string(),
                pinned: crate::lock::pinned(&reference, &digest),
                reference,
                digest,
                uploaded_bytes: stats.bytes,
                uploaded_blobs: stats.uploaded,
                existing_blobs: stats.existing,
                mounted_blobs: 0,
                mounted_bytes: 0,
                via: "registry".into(),
                seconds: started.elapsed().as_secs_f64(),
            },
            Some(src_digest),
        ))
    }

    /// Copies the config and layers of one image manifest that the target lacks.
    #[allow(clippy::too_many_arguments)]
    async fn copy_blobs(
        &self,
        name: &str,
        src: &RegistryClient,
        src_ref: &Reference,
        manifest: &[u8],
        dst: &RegistryClient,
        target: &Reference,
        stats: &mut CopyStats,
    ) -> Result<()> {
        let v: serde_json::Value =
            serde_json::from_slice(manifest).map_err(|e| Error::Registry {
                registry: src.host().to_string(),
                action: format!("read the manifest of {src_ref}"),
                message: e.to_string(),
            })?;
        let mut blobs: Vec<(String, u64)> = Vec::new();
        for d in std::iter::once(&v["config"]).chain(v["layers"].as_array().into_iter().flatten()) {
            if let (Some(digest), Some(size)) = (d["digest"].as_str(), d["size"].as_u64()) {
                blobs.push((digest.to_string(), size));
            }
        }
        self.emit(ImageEvent::PushStarted {
            image: name.to_string(),
            reference: target.whole(),
            layers: blobs.len(),
            missing: 0,
        });
        for (digest, size) in blobs {
            if dst.blob_exists(target, &digest).await? {
                stats.existing += 1;
                self.emit(ImageEvent::LayerExists {
                    image: name.to_string(),
                    layer_digest: digest,
                });
                continue;
            }
            // Pulled anew for each attempt: a token refused mid-upload starts it over.
            let open = || async {
                let stream = src.pull_blob(src_ref, &digest).await?;
                Ok(progress_stream(
                    stream.stream,
                    self.events.clone(),
                    name.to_string(),
                    digest.clone(),
                    size,
                ))
            };
            dst.push_blob_stream(target, open, &digest, size).await?;
            stats.bytes += size;
            stats.uploaded += 1;
            self.emit(ImageEvent::LayerPushed {
                image: name.to_string(),
                layer_digest: digest,
                size,
            });
        }
        Ok(())
    }
}

#[derive(Default)]
struct CopyStats {
    bytes: u64,
    uploaded: usize,
    existing: usize,
}

fn is_loopback(host: &str) -> bool {
    let h = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    h == "localhost" || h.starts_with("127.") || h == "[::1]"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("127.0.0.1:5001"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("docker.io"));
        assert!(!is_loopback("harbor.pagoda.os.univ-lyon1.fr"));
    }
}
