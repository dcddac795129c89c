//! Writing an export: files under a directory (all written in a hidden
//! directory first, then moved into place), or one stream of documents.

use super::*;

/// The schema modeline for a file at `path` inside the export directory.
pub(super) fn modeline(path: &Path) -> String {
    let depth = path.components().count().saturating_sub(1);
    format!(
        "# yaml-language-server: $schema={}{SCHEMA_FILE}\n",
        "../".repeat(depth)
    )
}

impl Export {
    /// A document as a file: header comment, schema modeline, body.
    pub fn file_text(&self, doc: &Document) -> String {
        let text = format!(
            "{}{}{}",
            yaml_out::comment(&doc.header),
            modeline(&doc.path),
            doc.body
        );
        crate::secrets::scrub(&text).into_owned()
    }

    /// Every document in one stream, separated by `---` (for stdout).
    pub fn stream(&self) -> String {
        let mut out = String::new();
        for (i, doc) in self.documents.iter().enumerate() {
            if i == 0 {
                out.push_str(&yaml_out::comment(&format!(
                    "{}\nFor editor checks, save the schema beside this file: ampx schema > {SCHEMA_FILE}",
                    doc.header
                )));
                out.push_str(&modeline(Path::new(SCHEMA_FILE)));
            } else {
                out.push_str("---\n");
                out.push_str(&yaml_out::comment(&doc.header));
            }
            out.push_str(&doc.body);
        }
        out
    }

    /// Writes every document under `dir`, plus the schema. Returns the
    /// manifests found under `dir` that this export did not write (with
    /// `force`, older files stay; plan would read them too).
    ///
    /// Every file is first written into a new hidden directory inside `dir`
    /// and moved into place only when all of them were written: an export
    /// that fails (a full disk, a name the file system refuses) leaves `dir`
    /// as it found it. Nothing is written through a symbolic link.
    pub fn write_to(&self, dir: &Path, force: bool) -> anyhow::Result<Vec<PathBuf>> {
        check_out_dir(dir, force)?;
        let mut files: Vec<(PathBuf, String)> = self
            .documents
            .iter()
            .map(|d| (d.path.clone(), self.file_text(d)))
            .collect();
        files.push((PathBuf::from(SCHEMA_FILE), crate::schema::schema_json()));
        check_targets(dir, &files)?;
        let created = !dir.exists();
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating directory {}", dir.display()))?;
        let staging = match stage(dir, &files) {
            Ok(staging) => staging,
            Err(e) => {
                if created {
                    let _ = std::fs::remove_dir(dir);
                }
                return Err(e);
            }
        };
        // Every file is written; each now replaces its target in one rename.
        let moved = files.iter().try_for_each(|(rel, _)| {
            let target = dir.join(rel);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating directory {}", parent.display()))?;
            }
            std::fs::rename(staging.join(rel), &target)
                .with_context(|| format!("writing {}", target.display()))
        });
        let _ = std::fs::remove_dir_all(&staging);
        moved?;
        let written: HashSet<PathBuf> = files.iter().map(|(p, _)| dir.join(p)).collect();
        let mut others = Vec::new();
        if let Ok(found) = manifest::find_files(&[dir.to_path_buf()]) {
            others = found.into_iter().filter(|f| !written.contains(f)).collect();
        }
        Ok(others)
    }
}

/// Before anything is written: nothing export writes to, or writes through,
/// may be a symbolic link (a link planted in the output directory would
/// send the files elsewhere), and each file it replaces must be a file.
fn check_targets(dir: &Path, files: &[(PathBuf, String)]) -> anyhow::Result<()> {
    for (rel, _) in files {
        let mut at = dir.to_path_buf();
        let count = rel.components().count();
        for (i, c) in rel.components().enumerate() {
            at.push(c);
            let Ok(meta) = std::fs::symlink_metadata(&at) else {
                break;
            };
            let problem = if meta.file_type().is_symlink() {
                "is a symbolic link; export writes only real files and directories and never follows a link"
            } else if i + 1 == count && !meta.is_file() {
                "is not a regular file, and export would replace it with one"
            } else if i + 1 < count && !meta.is_dir() {
                "is not a directory, and export would write files into it"
            } else {
                continue;
            };
            anyhow::bail!(
                "{} {problem} (nothing under {} was written)",
                at.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// Writes every file into a new hidden directory inside `dir`; removes it
/// again if one write fails.
fn stage(dir: &Path, files: &[(PathBuf, String)]) -> anyhow::Result<PathBuf> {
    let mut n = 0;
    let staging = loop {
        let candidate = dir.join(format!(".ampx-export-{}-{n}", std::process::id()));
        // `create_dir` makes a new directory or fails: it never reuses
        // whatever stands at that name.
        match std::fs::create_dir(&candidate) {
            Ok(()) => break candidate,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("creating directory {}", candidate.display()))
            }
        }
    };
    let written = files.iter().try_for_each(|(rel, text)| {
        let path = staging.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating directory {}", parent.display()))?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .with_context(|| format!("writing {}", dir.join(rel).display()))
    });
    match written {
        Ok(()) => Ok(staging),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e.context(format!("nothing under {} was written", dir.display())))
        }
    }
}

/// Refuses an output directory that exists and holds anything but hidden
/// entries (`.git`), unless `force`.
pub fn check_out_dir(dir: &Path, force: bool) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        anyhow::bail!("{} exists and is not a directory", dir.display());
    }
    if force {
        return Ok(());
    }
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("reading directory {}", dir.display()))?;
    let mut shown: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    if shown.is_empty() {
        return Ok(());
    }
    shown.sort();
    let more = shown.len().saturating_sub(5);
    shown.truncate(5);
    anyhow::bail!(
        "{} is not empty ({}{}): export writes only into a new or empty directory, so that no file is overwritten by accident\n  hint: choose a new directory, or pass --force to replace the files export writes (project.yaml, flags/<key>.yaml, experiments/<key>.yaml, deployments/<label>.yaml, mutexes/<key>.yaml, holdouts/<key>.yaml, {SCHEMA_FILE}) and keep the rest",
        dir.display(),
        shown.join(", "),
        if more > 0 { format!(" and {more} more") } else { String::new() }
    )
}
