//! Hugging Face downloads over real HTTP: a hub on loopback (`common/fake_hub.rs`) serves the
//! fixture checkpoints, and the client is pointed at it as `HF_ENDPOINT` would.

#[path = "common/fake_hub.rs"]
mod fake_hub;

use std::path::Path;
use std::sync::Mutex;

use dllm_models::hub::{self, HubError, HubSettings, Network};
use dllm_models::{DiffusionModel, LoadOptions, LoadProgress};
use fake_hub::{FakeHub, Repo};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const SECRET: &str = "hf_test_secret_token";

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn hub_with(id: &str, fixture_name: &str) -> FakeHub {
    let hub = FakeHub::start();
    hub.add(id, Repo::from_dir(&fixture(fixture_name), COMMIT));
    hub
}

/// Settings as the environment would give them: `HF_ENDPOINT` and `HF_HOME` set, and more.
fn settings(hub: &FakeHub, home: &Path, more: &[(&str, &str)]) -> HubSettings {
    let home = home.to_str().unwrap().to_string();
    HubSettings::from_vars(|name| match name {
        "HF_ENDPOINT" => Some(hub.endpoint.clone()),
        "HF_HOME" => Some(home.clone()),
        _ => more
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string()),
    })
}

fn snapshot(settings: &HubSettings, id: &str) -> Result<std::path::PathBuf, HubError> {
    hub::snapshot(settings, id, None, &|_| {})
}

fn gets(hub: &FakeHub) -> Vec<String> {
    hub.seen()
        .into_iter()
        .filter(|s| s.method == "GET")
        .map(|s| s.path.rsplit('/').next().unwrap().to_string())
        .collect()
}

#[test]
fn downloads_what_the_loader_reads_then_runs_offline_from_the_cache() {
    let hub = hub_with("org/sharded", "dream-tiny-sharded");
    let home = tempfile::tempdir().unwrap();
    let online = settings(&hub, home.path(), &[]);
    let reports = Mutex::new(Vec::new());
    let dir = hub::snapshot(&online, "org/sharded", None, &|p| {
        reports.lock().unwrap().push(p)
    })
    .unwrap();

    // The huggingface_hub layout, so Python shares the cache.
    let repo = home.path().join("hub/models--org--sharded");
    assert_eq!(dir, repo.join("snapshots").join(COMMIT));
    assert_eq!(
        std::fs::read_to_string(repo.join("refs/main")).unwrap(),
        COMMIT
    );
    assert!(std::fs::symlink_metadata(dir.join("config.json"))
        .unwrap()
        .is_symlink());
    let shard = "model-00001-of-00003.safetensors";
    assert_eq!(
        std::fs::read(dir.join(shard)).unwrap(),
        std::fs::read(fixture("dream-tiny-sharded").join(shard)).unwrap()
    );
    assert!(repo
        .join("blobs")
        .join(hub.etag("org/sharded", shard))
        .is_file());
    let mut fetched = gets(&hub);
    fetched.sort();
    assert_eq!(
        fetched,
        [
            "config.json",
            "generation_config.json",
            "model-00001-of-00003.safetensors",
            "model-00002-of-00003.safetensors",
            "model-00003-of-00003.safetensors",
            "model.safetensors.index.json",
            "tokenizer.json",
            "tokenizer_config.json",
        ],
        "only the files the loader reads (not reference.safetensors)"
    );
    let reports = reports.into_inner().unwrap();
    let weights = 271904 + 140840 + 51088;
    match reports.last() {
        Some(LoadProgress::Downloading { done, total, .. }) => {
            assert_eq!(done, total);
            assert!(*total > weights, "{total}");
        }
        other => panic!("{other:?}"),
    }
    assert!(reports.len() < 200, "throttled: {} reports", reports.len());

    // Online again: the hub is asked which commit `main` is, nothing is downloaded again.
    let before = gets(&hub).len();
    assert_eq!(snapshot(&online, "org/sharded").unwrap(), dir);
    assert_eq!(gets(&hub).len(), before);

    // Offline: not a single request.
    let requests = hub.seen().len();
    let offline = settings(&hub, home.path(), &[("HF_HUB_OFFLINE", "1")]);
    assert_eq!(offline.network, Network::Offline);
    assert_eq!(snapshot(&offline, "org/sharded").unwrap(), dir);
    assert_eq!(hub.seen().len(), requests);
    let loading = Mutex::new(Vec::new());
    DiffusionModel::load_dir_with_progress(&dir, &LoadOptions::default(), &|p| {
        loading.lock().unwrap().push(p)
    })
    .expect("the downloaded checkpoint loads");
    match loading.into_inner().unwrap().last() {
        Some(LoadProgress::Loading { done, total }) => assert!(done == total && *total > 0),
        other => panic!("{other:?}"),
    }
}

#[test]
fn offline_with_nothing_cached_says_so_without_a_request() {
    let hub = hub_with("org/single", "dream-tiny");
    let home = tempfile::tempdir().unwrap();
    let offline = settings(&hub, home.path(), &[("HF_HUB_OFFLINE", "1")]);
    let err = snapshot(&offline, "org/single").unwrap_err();
    assert!(matches!(err, HubError::NotCached { .. }), "{err}");
    assert!(err.to_string().contains("HF_HUB_OFFLINE"), "{err}");
    assert!(hub.seen().is_empty());
}

#[test]
fn a_download_cut_off_resumes_with_a_range_request() {
    let hub = hub_with("org/single", "dream-tiny");
    let home = tempfile::tempdir().unwrap();
    let online = settings(&hub, home.path(), &[]);
    let weights = "model.safetensors";
    // Cut more often than one run tries: the run fails, its bytes stay for the next.
    hub.cut(weights, 100_000, 3);
    let err = snapshot(&online, "org/single").unwrap_err();
    assert!(
        matches!(
            err,
            HubError::Truncated {
                got: 300_000,
                expected: 463_800,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("run again to resume"), "{err}");
    let ranges: Vec<Option<String>> = hub
        .seen()
        .iter()
        .filter(|s| s.method == "GET" && s.path.ends_with(weights))
        .map(|s| s.header("range").map(String::from))
        .collect();
    assert_eq!(
        ranges,
        [
            None,
            Some("bytes=100000-".into()),
            Some("bytes=200000-".into())
        ]
    );
    let dir = snapshot(&online, "org/single").unwrap();
    let last = hub
        .seen()
        .into_iter()
        .rfind(|s| s.method == "GET" && s.path.ends_with(weights))
        .unwrap();
    assert_eq!(last.header("range"), Some("bytes=300000-"));
    assert_eq!(
        std::fs::read(dir.join(weights)).unwrap(),
        std::fs::read(fixture("dream-tiny").join(weights)).unwrap()
    );
    DiffusionModel::load_dir(&dir, &LoadOptions::default()).expect("the resumed file loads");
}

#[test]
fn an_unknown_repository_is_a_404_with_its_message() {
    let hub = hub_with("org/single", "dream-tiny");
    let home = tempfile::tempdir().unwrap();
    let err = snapshot(&settings(&hub, home.path(), &[]), "org/missing").unwrap_err();
    assert!(matches!(err, HubError::RepoNotFound { .. }), "{err}");
    assert!(err.to_string().contains("no such repository"), "{err}");

    let mut no_tokenizer = Repo::from_dir(&fixture("dream-tiny"), COMMIT);
    no_tokenizer.files.remove("tokenizer.json");
    hub.add("org/no-tokenizer", no_tokenizer);
    let err = snapshot(&settings(&hub, home.path(), &[]), "org/no-tokenizer").unwrap_err();
    assert_eq!(err.to_string(), "tokenizer.json is not in the repository");

    let err = hub::snapshot(
        &settings(&hub, home.path(), &[]),
        "org/single",
        Some("v9"),
        &|_| {},
    )
    .unwrap_err();
    assert!(matches!(err, HubError::RevisionNotFound { .. }), "{err}");
}

#[test]
fn a_gated_repository_is_a_401_that_asks_for_hf_token_and_never_shows_it() {
    let hub = FakeHub::start();
    let mut gated = Repo::from_dir(&fixture("dream-tiny"), COMMIT);
    gated.token = Some(SECRET.into());
    hub.add("org/gated", gated);
    let home = tempfile::tempdir().unwrap();

    let err = snapshot(&settings(&hub, home.path(), &[]), "org/gated").unwrap_err();
    assert!(
        matches!(err, HubError::Unauthorized { status: 401, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("set HF_TOKEN"), "{err}");

    let wrong = settings(&hub, home.path(), &[("HF_TOKEN", "hf_wrong_token")]);
    let err = snapshot(&wrong, "org/gated").unwrap_err();
    assert!(err.to_string().contains("has no access"), "{err}");
    assert!(!format!("{err} {err:?}").contains("hf_wrong_token"));

    // The token file huggingface-cli writes under HF_HOME is read too.
    std::fs::write(home.path().join("token"), format!("{SECRET}\n")).unwrap();
    let dir = snapshot(&settings(&hub, home.path(), &[]), "org/gated").unwrap();
    assert!(dir.join("model.safetensors").is_file());
    let bearer = format!("Bearer {SECRET}");
    assert!(hub
        .seen()
        .iter()
        .any(|s| s.header("authorization") == Some(bearer.as_str())));
}

#[test]
fn no_network_hints_at_offline_mode_and_falls_back_to_a_whole_cache() {
    let hub = hub_with("org/single", "dream-tiny");
    let home = tempfile::tempdir().unwrap();
    let dir = snapshot(&settings(&hub, home.path(), &[]), "org/single").unwrap();

    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let home_str = home.path().to_str().unwrap().to_string();
    let unreachable = |home: String| {
        let endpoint = endpoint.clone();
        HubSettings::from_vars(move |name| match name {
            "HF_ENDPOINT" => Some(endpoint.clone()),
            "HF_HOME" => Some(home.clone()),
            _ => None,
        })
    };
    assert_eq!(snapshot(&unreachable(home_str), "org/single").unwrap(), dir);

    let empty = tempfile::tempdir().unwrap();
    let err = snapshot(
        &unreachable(empty.path().to_str().unwrap().into()),
        "org/single",
    )
    .unwrap_err();
    assert!(err.is_network(), "{err}");
    assert!(err.to_string().contains("HF_HUB_OFFLINE=1"), "{err}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_named() {
    let hub = hub_with("org/single", "dream-tiny");
    let home = tempfile::tempdir().unwrap();
    // The weights' partial file is /dev/full: every write fails with ENOSPC.
    let blobs = home.path().join("hub/models--org--single/blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    let etag = hub.etag("org/single", "model.safetensors");
    std::os::unix::fs::symlink("/dev/full", blobs.join(format!("{etag}.incomplete"))).unwrap();
    let err = snapshot(&settings(&hub, home.path(), &[]), "org/single").unwrap_err();
    assert!(matches!(err, HubError::DiskFull { .. }), "{err}");
    assert!(err.to_string().contains("disk full"), "{err}");
}

#[test]
fn a_download_another_process_holds_waits_for_its_lock() {
    let hub = hub_with("org/single", "dream-tiny");
    let home = tempfile::tempdir().unwrap();
    let online = settings(&hub, home.path(), &[]);
    // huggingface_hub's lock of the weights' blob, held as another downloader would.
    let etag = hub.etag("org/single", "model.safetensors");
    let locks = home.path().join("hub/.locks/models--org--single");
    std::fs::create_dir_all(&locks).unwrap();
    let held = std::fs::File::create(locks.join(format!("{etag}.lock"))).unwrap();
    held.lock().unwrap();
    let downloader = std::thread::spawn(move || snapshot(&online, "org/single"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !gets(&hub).iter().any(|f| f == "model.safetensors"),
        "downloaded while the lock was held"
    );
    drop(held);
    let dir = downloader.join().unwrap().unwrap();
    assert!(dir.join("model.safetensors").is_file());
}
