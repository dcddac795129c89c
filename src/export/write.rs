//! Writing an export: files under a directory (through a temporary file
//! each), or one stream of documents.

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
        format!(
            "{}{}{}",
            yaml_out::comment(&doc.header),
            modeline(&doc.path),
            doc.body
        )
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
    pub fn write_to(&self, dir: &Path, force: bool) -> anyhow::Result<Vec<PathBuf>> {
        check_out_dir(dir, force)?;
        let mut files: Vec<(PathBuf, String)> = self
            .documents
            .iter()
            .map(|d| (dir.join(&d.path), self.file_text(d)))
            .collect();
        files.push((dir.join(SCHEMA_FILE), crate::schema::schema_json()));
        // Before any write: nothing under `dir` that export writes to, or
        // writes through, may be a symbolic link (a link planted in the
        // output directory would send the files elsewhere).
        for (path, _) in &files {
            let rel = path.strip_prefix(dir).unwrap_or(path);
            let mut at = dir.to_path_buf();
            let mut parts: Vec<PathBuf> = rel
                .components()
                .map(|c| {
                    at.push(c);
                    at.clone()
                })
                .collect();
            parts.push(temp_path(path));
            for p in parts {
                if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
                    anyhow::bail!(
                        "{} is a symbolic link; export writes only real files and directories under {} and never follows a link (nothing was written)",
                        p.display(),
                        dir.display()
                    );
                }
            }
        }
        for (path, text) in &files {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating directory {}", parent.display()))?;
            }
            let temp = temp_path(path);
            // A leftover temporary file of an export that stopped is
            // replaced; the file is then made anew, never opened through
            // whatever stands at its name.
            if std::fs::symlink_metadata(&temp).is_ok_and(|m| m.is_file()) {
                let _ = std::fs::remove_file(&temp);
            }
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)
                .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
                .with_context(|| format!("writing {}", temp.display()))?;
            std::fs::rename(&temp, path).with_context(|| format!("writing {}", path.display()))?;
        }
        let written: HashSet<&PathBuf> = files.iter().map(|(p, _)| p).collect();
        let mut others = Vec::new();
        if let Ok(found) = manifest::find_files(&[dir.to_path_buf()]) {
            others = found.into_iter().filter(|f| !written.contains(f)).collect();
        }
        Ok(others)
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

/// The temporary file a file is written through before it is renamed into
/// place.
fn temp_path(path: &Path) -> PathBuf {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    PathBuf::from(temp)
}
