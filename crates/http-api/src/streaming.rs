//! Serving a blocking reader (a decrypting blob reader) as a streaming response body.

use futures_util::Stream;
use std::io::Read;

const CHUNK: usize = 256 * 1024;

/// Reads `reader` on a blocking thread, 256 KiB at a time, with back-pressure.
pub fn read_in_chunks(mut reader: impl Read + Send + 'static) -> impl Stream<Item = std::io::Result<Vec<u8>>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    tokio::task::spawn_blocking(move || loop {
        let mut buf = vec![0u8; CHUNK];
        match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                if tx.blocking_send(Ok(buf)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}
