//! Who is on the other end of the socket: our own uid (to compare with the peer's), and the
//! asking program as `/proc` describes it. The `gatehouse` command and `sh -c` wrapper shells
//! only pass requests on, so the program named (and remembered by "always allow") is the one
//! that ran them; `via` keeps the command line that came through.

use std::os::unix::fs::MetadataExt;

use crate::views::ProgramView;

const CMDLINE_MAX: usize = 512;
/// How many pass-through processes are skipped at most.
const MAX_HOPS: usize = 4;

/// This process's uid, without `unsafe`: the owner of `/proc/self`.
pub fn our_uid() -> std::io::Result<u32> {
    Ok(std::fs::metadata("/proc/self")?.uid())
}

struct Process {
    exe: String,
    cmdline: String,
    args: Vec<String>,
    ppid: Option<u32>,
}

fn read(pid: u32) -> Option<Process> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let cmdline: String = args.join(" ").chars().take(CMDLINE_MAX).collect();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    Some(Process {
        exe: exe.to_string_lossy().into_owned(),
        cmdline,
        args,
        ppid: parse_ppid(&stat),
    })
}

/// The parent pid from `/proc/<pid>/stat`: the fourth field, counted after the last `)` (the
/// command name in parentheses may itself hold spaces and parentheses).
fn parse_ppid(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether `exe` is the `gatehouse` command that came with this app: the packaged one, or the
/// one beside this binary (a build tree). Only those are passed over: any other executable
/// merely named `gatehouse` is a program of its own and is named as such — otherwise it could
/// ride on a grant of whatever started it.
fn is_our_cli(exe: &str) -> bool {
    if exe == "/usr/bin/gatehouse" {
        return true;
    }
    std::env::current_exe()
        .ok()
        .and_then(|me| Some(me.parent()?.join("gatehouse")))
        .is_some_and(|beside| beside.to_string_lossy() == exe)
}

/// Processes that only carry a request for another program.
fn passes_through(p: &Process) -> bool {
    if is_our_cli(&p.exe) {
        return true;
    }
    let name = base_name(&p.exe);
    matches!(name, "sh" | "dash" | "bash" | "zsh") && p.args.get(1).is_some_and(|a| a == "-c")
}

/// The program asking, from the peer's pid; `None` when it cannot be read (it already exited).
pub fn program(pid: u32) -> Option<ProgramView> {
    let first = read(pid)?;
    let mut via: Option<String> = None;
    let (mut pid, mut p) = (pid, first);
    for _ in 0..MAX_HOPS {
        if !passes_through(&p) {
            break;
        }
        let Some(parent) = p.ppid.filter(|pp| *pp > 1) else {
            break;
        };
        let Some(next) = read(parent) else {
            break;
        };
        if via.is_none() {
            via = Some(p.cmdline.clone());
        }
        (pid, p) = (parent, next);
    }
    Some(ProgramView {
        exe: p.exe,
        cmdline: p.cmdline,
        pid,
        via,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_is_read_after_the_last_parenthesis() {
        assert_eq!(parse_ppid("42 (a) b) S 7 42 42 0"), Some(7));
        assert_eq!(parse_ppid("42 (cat) R 1 2 3"), Some(1));
        assert_eq!(parse_ppid("garbage"), None);
    }

    #[test]
    fn this_process_is_described() {
        let me = program(std::process::id()).unwrap();
        assert_eq!(me.exe, std::env::current_exe().unwrap().to_string_lossy());
        assert!(!me.cmdline.is_empty());
        assert_eq!(me.via, None);
    }

    #[test]
    fn only_our_own_command_is_passed_over() {
        assert!(is_our_cli("/usr/bin/gatehouse"));
        let me = std::env::current_exe().unwrap();
        let beside = me.parent().unwrap().join("gatehouse");
        assert!(is_our_cli(&beside.to_string_lossy()));
        assert!(!is_our_cli("/home/mallory/bin/gatehouse"));
        assert!(!is_our_cli("/usr/bin/gatehouse-desktop"));
    }
}
