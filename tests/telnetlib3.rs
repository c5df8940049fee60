//! Interop with Python's telnetlib3, an independent telnet client that speaks NAWS, TTYPE,
//! GMCP, MSDP, MSSP, MCCP2 and (its own way) MCCP3. Runs when `python3 -c "import telnetlib3"`
//! works (`.ci/run` installs it); otherwise says it was skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn python() -> Option<String> {
    let py = std::env::var("TELNETLIB3_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import telnetlib3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(py)
}

const SCRIPT: &str = r#"
import asyncio, sys, telnetlib3
async def main(port):
    r, w = await telnetlib3.open_connection('127.0.0.1', port, cols=132, rows=40,
                                            term='xterm-256color', connect_minwait=0.5)
    out = ''
    async def until(text, t=10):
        nonlocal out
        loop = asyncio.get_running_loop(); end = loop.time() + t
        while text not in out and loop.time() < end:
            try:
                s = await asyncio.wait_for(r.read(4096), 0.5)
            except asyncio.TimeoutError:
                continue
            if not s:
                break
            out += s
    await until('> ')
    w.write('connect lib3 secret-lib3\r\n')
    await until('Welcome, lib3.')
    w.write('options\r\n')
    await until('flags')
    await until('\n', 2)
    print(out)
    w.close()
asyncio.run(main(int(sys.argv[1])))
"#;

#[test]
fn telnetlib3_negotiates_size_gmcp_and_compression_and_plays() {
    let Some(py) = python() else {
        eprintln!("note: telnetlib3 is not installed for python3; this interop test is skipped");
        return;
    };
    let p = Portcullis::start("");
    p.account("lib3");
    let mut child = Command::new(py)
        .args(["-c", SCRIPT, &p.port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("telnetlib3 client did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let text = plain(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Welcome, lib3."), "{text}");
    assert!(text.contains("client    telnetlib3"), "{text}");
    assert!(text.contains("width     132"), "{text}");
    assert!(text.contains("height    40"), "{text}");
    assert!(text.contains("GMCP=true"), "{text}");
    // telnetlib3 starts MCCP3 and sends a frame uncompressed first: the portal copes.
    assert!(text.contains("MCCP3=true"), "{text}");
    assert!(text.contains("MCCP=true"), "{text}");
}
