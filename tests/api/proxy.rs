//! A small TCP proxy between trolley and Redis that injects the faults real
//! networks make: it resets every connection, blackholes (accepts and reads,
//! never answers), delays every reply, or loses the reply to the next script
//! call after forwarding it (Redis ran the command; the client never hears).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// What the proxy does to the traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward both ways.
    None,
    /// Hold every byte from Redis: commands arrive, answers never leave.
    Blackhole,
    /// Hold every reply this long before forwarding it.
    Delay(Duration),
    /// After forwarding the next `FCALL` (a script), drop its reply and reset the
    /// connection (`times` such replies, then forward again).
    LoseScriptReplies { times: u32 },
    /// The same for the next command whose bytes hold every one of `needles`.
    LoseReplies { needles: Vec<Vec<u8>>, times: u32 },
}

impl Fault {
    /// The next reply to lose after forwarding `chunk`, if it is one: the
    /// fault with one fewer to lose.
    fn loses_reply_to(&self, chunk: &[u8]) -> Option<Fault> {
        let holds = |needle: &[u8]| {
            chunk
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle))
        };
        let (times, next) = match self {
            Fault::LoseScriptReplies { times } if *times > 0 && holds(b"FCALL") => {
                (*times, Fault::LoseScriptReplies { times: times - 1 })
            }
            Fault::LoseReplies { needles, times }
                if *times > 0 && needles.iter().all(|n| holds(n)) =>
            {
                (
                    *times,
                    Fault::LoseReplies {
                        needles: needles.clone(),
                        times: times - 1,
                    },
                )
            }
            _ => return None,
        };
        Some(if times > 1 { next } else { Fault::None })
    }
}

pub struct FaultProxy {
    pub port: u16,
    fault: Arc<Mutex<Fault>>,
    /// Bumped to reset every open connection.
    resets: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy on a free port of 127.0.0.1 forwarding to `upstream_port`.
    pub async fn start(upstream_port: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let fault = Arc::new(Mutex::new(Fault::None));
        let (resets, _) = watch::channel(0u64);
        let task = {
            let fault = fault.clone();
            let resets = resets.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let fault = fault.clone();
                    let reset = resets.subscribe();
                    tokio::spawn(async move {
                        if let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)).await {
                            relay(client, server, fault, reset).await;
                        }
                    });
                }
            })
        };
        FaultProxy {
            port,
            fault,
            resets,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn set(&self, fault: Fault) {
        *self.fault.lock().expect("fault") = fault;
    }

    /// Resets every open connection now (new ones are accepted).
    pub fn reset_all(&self) {
        self.resets.send_modify(|n| *n += 1);
    }

    /// How many lost replies are still armed.
    pub fn armed(&self) -> u32 {
        match &*self.fault.lock().expect("fault") {
            Fault::LoseScriptReplies { times } | Fault::LoseReplies { times, .. } => *times,
            _ => 0,
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Pumps one connection both ways under the current fault, until either side
/// closes or a reset is asked for.
async fn relay(
    client: TcpStream,
    server: TcpStream,
    fault: Arc<Mutex<Fault>>,
    mut reset: watch::Receiver<u64>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // Set when an FCALL was forwarded while a lost reply is armed.
    let doomed = Arc::new(Mutex::new(false));
    let upstream = {
        let fault = fault.clone();
        let doomed = doomed.clone();
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let chunk = &buf[..n];
                {
                    let mut fault = fault.lock().expect("fault");
                    if let Some(next) = fault.loses_reply_to(chunk) {
                        *fault = next;
                        *doomed.lock().expect("doomed") = true;
                    }
                }
                if server_write.write_all(chunk).await.is_err() {
                    return;
                }
            }
        }
    };
    let downstream = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if *doomed.lock().expect("doomed") {
                // Redis ran it; the reply dies with the connection.
                return;
            }
            loop {
                let current = fault.lock().expect("fault").clone();
                match current {
                    Fault::Blackhole => tokio::time::sleep(Duration::from_millis(50)).await,
                    Fault::Delay(by) => {
                        tokio::time::sleep(by).await;
                        break;
                    }
                    _ => break,
                }
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
        _ = reset.changed() => {}
    }
    // Dropping both halves closes the sockets: the client sees the connection end.
}
