//! Options of the remote stores (S3 endpoint and addressing, SSH config),
//! shared by every tool that reads or writes s3:// and ssh:// URLs.

use std::path::PathBuf;

use clap::Args;
use pgb_core::remote::StoreOptions;

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// S3-compatible endpoint URL (MinIO, Ceph, ...); default AWS_ENDPOINT_URL, else AWS
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,

    /// S3 region (default AWS_REGION, AWS_DEFAULT_REGION, else us-east-1)
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// S3 path-style addressing (ENDPOINT/BUCKET/KEY); always used with --endpoint
    #[arg(long)]
    pub path_style: bool,

    /// ssh configuration file passed to ssh -F (hosts, ports, keys, known_hosts)
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
}

impl StoreArgs {
    pub fn options(&self) -> StoreOptions {
        StoreOptions {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            path_style: self.path_style,
            storage_class: None,
            sse: None,
            ssh_config: self.ssh_config.clone(),
        }
    }
}

/// Where pgb-prune and pgb-check look for backups.
#[derive(Debug, Clone, Args)]
pub struct LocationArgs {
    /// Where the backups are: a folder, s3://BUCKET/PREFIX or
    /// ssh://[USER@]HOST[:PORT]/PATH (default: --dir)
    #[arg(value_name = "LOCATION")]
    pub location: Option<String>,

    /// Backup folder
    #[arg(
        long,
        value_name = "DIR",
        env = "BACKUP_DIR",
        default_value = "./backups"
    )]
    pub dir: PathBuf,

    /// Also read the backups in subfolders (each folder is its own set of series)
    #[arg(short = 'r', long)]
    pub recursive: bool,
}

impl LocationArgs {
    pub fn open(&self, store: &StoreArgs) -> pgb_core::Result<pgb_core::remote_catalog::Location> {
        let text = self
            .location
            .clone()
            .unwrap_or_else(|| self.dir.display().to_string());
        pgb_core::remote_catalog::Location::open(&text, &store.options())
    }
}
