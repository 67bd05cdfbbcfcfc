// Functions stay short (clippy.toml: too-many-lines-threshold).
#![warn(clippy::too_many_lines)]

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;

mod app;
mod cli;

use cli::{Cli, Command};

/// Whether standard output was closed when the program was started (`>&-`): set by
/// [`note_closed_stdout`], which runs before Rust's runtime opens /dev/null on a closed
/// descriptor (after that a closed stdout cannot be told from `>/dev/null`).
static STDOUT_CLOSED_AT_START: AtomicBool = AtomicBool::new(false);

#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static NOTE_CLOSED_STDOUT: extern "C" fn() = note_closed_stdout;

extern "C" fn note_closed_stdout() {
    // SAFETY: F_GETFD on descriptor 1 only reads its flags; a closed descriptor returns -1.
    let closed = unsafe { libc::fcntl(libc::STDOUT_FILENO, libc::F_GETFD) } == -1;
    STDOUT_CLOSED_AT_START.store(closed, Ordering::Relaxed);
}

fn main() -> ExitCode {
    emojicam::safety::set_stdout_closed_at_start(STDOUT_CLOSED_AT_START.load(Ordering::Relaxed));
    emojicam::safety::fail_writes_over_the_size_limit();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // Without a session runtime directory (ssh, CI, containers) Mesa's Vulkan device-select
    // layer tries to reach a Wayland compositor and prints "XDG_RUNTIME_DIR is invalid" once per
    // GPU context. It only reorders adapters, which we choose ourselves: skip it there. Set
    // before any thread starts.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() && std::env::var_os("NODEVICE_SELECT").is_none() {
        std::env::set_var("NODEVICE_SELECT", "1");
    }
    // Decoder panics on malformed input are contained and reported as clear errors; keep the
    // default report (with its backtrace hint) for real bugs only.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !emojicam::source::panic_is_contained() {
            default_hook(info);
        }
    }));
    // -q: only errors (and warnings about damaged input), from our own lines and from the log.
    let quiet = match &cli.command {
        Some(Command::Render(args)) => args.quiet,
        None => cli.live.quiet,
        _ => false,
    };
    emojicam::safety::set_quiet(quiet);
    // Still before any thread starts (it may change the environment).
    for note in emojicam::safety::tidy_environment() {
        emojicam::note!("{note}");
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EMOJICAM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(if quiet { "error" } else { "warn" })),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    // render and demo write files: a signal removes what is unfinished and exits 130/143.
    // (The live preview finishes its recording on Ctrl-C instead.)
    if matches!(cli.command, Some(Command::Render(_) | Command::Demo(_))) {
        if let Err(e) = emojicam::safety::exit_cleanly_on_signals() {
            emojicam::say!("emojicam: error: {e}");
            return ExitCode::from(1);
        }
    }
    let result = match cli.command {
        Some(Command::Render(args)) => app::render::run(&args),
        Some(Command::Demo(args)) => app::demo::run(&args),
        Some(Command::Bench(args)) => app::bench::run(&args),
        Some(Command::Cameras) => app::info::cameras(),
        Some(Command::Sets) => app::info::sets(),
        Some(Command::Adapters) => app::info::adapters(),
        None => app::live::run(&cli.live),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e)
            if e.downcast_ref::<emojicam::Error>()
                .is_some_and(emojicam::safety::is_broken_stdout) =>
        {
            // `emojicam render -o - | head -c 100`: the reader has what it wanted. Quietly, with
            // the status a shell gives a program stopped by SIGPIPE.
            ExitCode::from(141)
        }
        Err(e) => {
            // Each cause once: library errors already include their source in their message.
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg = format!("{msg}: {c}");
                }
            }
            emojicam::say!("emojicam: error: {msg}");
            let code = e.downcast_ref::<emojicam::Error>().map_or(1, |e| e.exit_code());
            ExitCode::from(code as u8)
        }
    }
}

/// A command line clap refuses: its error on one line (without the usage block and tips after
/// it: every error is one line), exit status 2. `--help` and `--version` print as
/// clap prints them (and exits).
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    // The error's paragraph (a list of missing arguments or possible values included), up to
    // the blank line before the usage block, and clap's tips ("a similar argument exists").
    let text = e.render().to_string();
    let paragraph: Vec<&str> = text.lines().map(str::trim).take_while(|l| !l.is_empty()).collect();
    let mut message = paragraph.join(" ");
    let tips: Vec<&str> = text.lines().filter_map(|l| l.trim().strip_prefix("tip: ")).collect();
    for tip in &tips {
        message.push_str(&format!("; {tip}"));
    }
    // `--tile -3`, `-i -name.png`: a value that starts with '-' reads as a short option.
    let short = message
        .split_once("unexpected argument '-")
        .is_some_and(|(_, rest)| !rest.starts_with('-'));
    if e.kind() == ErrorKind::UnknownArgument && short && tips.is_empty() {
        message.push_str("; a value that starts with '-' goes after '=' (--size=VALUE), a file name as ./NAME");
    }
    // `emojicam --threads 1 bench`: the live preview's options before a subcommand (Cli's
    // args_conflicts_with_subcommands)
    if e.kind() == ErrorKind::ArgumentConflict && message.contains("the subcommand '") {
        message.push_str("; a subcommand's options go after its name (emojicam SUBCOMMAND --help lists them)");
    }
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    emojicam::say!("emojicam: error: {message} (see emojicam --help)");
    ExitCode::from(2)
}
