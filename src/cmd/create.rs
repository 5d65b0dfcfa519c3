//! `mapio create PATH --dtype D --shape S`: a new `.npy` or raw array
//! file, zero-filled or filled with 0, 1, 2, ... (`--fill arange`).

use std::path::{Path, PathBuf};

use mapio::array::{ArrayInfo, ArrayOptions, DType, DynArray, Kind, Order, Scalar};

use super::args::{Shape, has_ext, io_error, parse_dtype, parse_order, parse_shape};
use super::info::print_array;
use super::out::{Out, shape_text};
use super::progress::Progress;
use super::{Exit, Outcome, usage};

/// What `create` fills the array with.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    /// Zeros (the file's space is reserved, never sparse)
    Zeros,
    /// Element i (in C order) is i in the dtype (bool: i is odd)
    Arange,
}

/// Create an array file: .npy if PATH ends in .npy, raw bytes otherwise.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The file to create
    pub path: PathBuf,
    /// NumPy dtype of the elements (<f8, f8, float64, i4, u1, bool, c16, >i4, ...)
    #[arg(long, value_name = "DTYPE", value_parser = parse_dtype)]
    pub dtype: DType,
    /// Shape: 3,4 or (3, 4); () for 0-d
    #[arg(long, value_name = "SHAPE", value_parser = parse_shape)]
    pub shape: Shape,
    /// Memory order: C (row-major) or F (column-major)
    #[arg(long, value_name = "C|F", value_parser = parse_order, default_value = "C")]
    pub order: Order,
    /// What to fill the array with
    #[arg(long, value_enum, default_value_t = Fill::Zeros)]
    pub fill: Fill,
    /// Raw files only: zero bytes before the first element
    #[arg(long, value_name = "BYTES")]
    pub offset: Option<u64>,
    /// Overwrite PATH if it exists
    #[arg(long, short = 'f')]
    pub force: bool,
    /// Print the new file's layout as one JSON object (as `info --json`)
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Outcome {
    let npy = has_ext(&args.path, "npy");
    if npy && args.offset.is_some() {
        return Err(usage(
            "--offset is for raw files: a .npy file's header sets where its data starts",
        ));
    }
    let too_big = args
        .shape
        .0
        .iter()
        .try_fold(args.dtype.itemsize() as u64, |n, &d| {
            n.checked_mul(d as u64)
        })
        .is_none_or(|n| n > i64::MAX as u64);
    if too_big {
        return Err(usage(format!(
            "shape {} of {} is too large for any file",
            shape_text(&args.shape.0),
            args.dtype
        )));
    }
    let existed = match std::fs::symlink_metadata(&args.path) {
        Ok(_) if !args.force => {
            // A usage error (exit 2), as `mapio demo` refuses a file.
            return Err(usage(format!(
                "{} exists; pass --force to overwrite it",
                args.path.display()
            )));
        }
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(io_error(&args.path, "stat", e)),
    };
    // Over an existing file (--force), the new one is made beside it and
    // renamed over it only when complete: a failure (a full disk) loses
    // nothing. A file another process uses is refused, as before.
    let target = if existed {
        drop(mapio::map::MappedFile::open(
            &args.path,
            mapio::map::Mode::ReadWrite,
        )?);
        // An unpredictable name, created exclusively and never through a
        // symbolic link: nobody can plant a link there to have us write
        // through it (SECURITY.md F22).
        mapio::map::temp_path_beside(&args.path, "create")
    } else {
        args.path.clone()
    };
    let info = match write(&args, &target, npy) {
        Ok(info) => info,
        Err(e) => {
            // Leave no half-made file behind (the library keeps the empty
            // file it created when, say, the space cannot be reserved),
            // but never remove one this command did not create (another
            // process made it in the meantime).
            let ours = !matches!(&e, mapio::Error::Io { source, .. }
                if source.kind() == std::io::ErrorKind::AlreadyExists);
            if ours {
                let _ = std::fs::remove_file(&target);
            }
            return Err(e.for_path(&args.path).into());
        }
    };
    if existed {
        if let Err(e) = std::fs::rename(&target, &args.path) {
            let _ = std::fs::remove_file(&target);
            return Err(io_error(&args.path, "rename", e));
        }
        // The rename itself durable, as the file it names already is.
        mapio::map::sync_parent_dir(&args.path)
            .map_err(|e| io_error(&args.path, "fsync(parent dir)", e))?;
    }
    let mut out = Out::new();
    print_array(&mut out, &info, args.json)?;
    out.flush()?;
    Ok(Exit::Ok)
}

/// Creates the file at `path` (always a new file, created exclusively and
/// never through a link: the target that did not exist, or a temporary
/// name beside it), fills it and closes it.
fn write(args: &Args, path: &Path, npy: bool) -> mapio::Result<ArrayInfo> {
    let opts = ArrayOptions::new()
        .order(args.order)
        .create_new(true)
        .nofollow(true);
    let mut a = if npy {
        opts.create_dyn_npy(path, args.dtype, &args.shape.0)?
    } else {
        opts.offset(args.offset.unwrap_or(0))
            .create_dyn_raw(path, args.dtype, &args.shape.0)?
    };
    if args.fill == Fill::Arange {
        fill_arange(&mut a)?;
    }
    let info = a.info().clone();
    a.close()?;
    Ok(info)
}

/// Writes element i (C order) = i, whatever the memory order.
fn fill_arange(a: &mut DynArray) -> mapio::Result<()> {
    let dtype = a.dtype();
    let shape = a.shape().to_vec();
    let fortran = a.info().order == Order::Fortran && shape.len() > 1;
    // C-order strides, to turn a Fortran memory position into a C index.
    let mut c_strides = vec![1usize; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        c_strides[k] = c_strides[k + 1] * shape[k + 1];
    }
    let item = dtype.itemsize();
    let n = a.len() as u64;
    let progress = Progress::bar("filling", n, 1 << 24);
    let data = a.data_mut()?;
    for (m, chunk) in data.chunks_exact_mut(item).enumerate() {
        let i = if fortran {
            let mut rest = m;
            let mut c = 0;
            for (k, &d) in shape.iter().enumerate() {
                c += (rest % d) * c_strides[k];
                rest /= d;
            }
            c
        } else {
            m
        };
        let v = match dtype.kind() {
            Kind::Bool => Scalar::Bool(i % 2 == 1),
            Kind::Float | Kind::Complex => Scalar::Float(i as f64),
            _ => Scalar::Int(i as i64),
        };
        dtype.encode(&v, chunk);
        if m % (1 << 20) == 0 {
            progress.set(m as u64);
        }
    }
    Ok(())
}
