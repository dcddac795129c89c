//! Deployments, and the deployments a flag or experiment is served through.

use super::*;

impl Store {
    pub(super) fn add_deployment(&mut self, project: &str, label: &str, kind: &str) -> u64 {
        let id = self.allocate_id();
        let key = format!("{kind}-{}", self.rng.hex(32));
        self.deployments.push(Deployment {
            id,
            project_id: project.to_owned(),
            label: label.to_owned(),
            key,
            kind: kind.to_owned(),
            deleted: false,
        });
        id
    }

    pub(crate) fn object_deployments(
        &self,
        collection: Collection,
        raw_id: &str,
    ) -> Result<Value, ApiError> {
        let object = self.object(collection, raw_id)?;
        let rendered = object
            .deployments
            .iter()
            .filter_map(|id| self.deployments.iter().find(|d| d.id == *id))
            .map(|d| d.render_list(self.lenient()))
            .collect();
        Ok(Value::Array(rendered))
    }

    pub(crate) fn add_object_deployments(
        &mut self,
        collection: Collection,
        raw_id: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        let fields = Fields::of(body, "request body")?;
        let refs = fields
            .get("deployments")
            .ok_or_else(|| ApiError::bad_request("`deployments` is required"))?;
        self.modify(collection, raw_id, |object, deployments| {
            let ids =
                resolve_deployments(deployments, &object.project_id, refs, "deployments", false)?;
            for id in ids {
                if !object.deployments.contains(&id) {
                    object.deployments.push(id);
                }
            }
            Ok(())
        })
    }

    pub(crate) fn remove_object_deployment(
        &mut self,
        collection: Collection,
        raw_id: &str,
        raw_deployment: &str,
    ) -> Result<(), ApiError> {
        self.modify(collection, raw_id, |object, _| {
            let index = raw_deployment
                .parse::<u64>()
                .ok()
                .and_then(|id| object.deployments.iter().position(|d| *d == id))
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "deployment {raw_deployment} is not assigned to this {}",
                        collection.noun()
                    ))
                })?;
            object.deployments.remove(index);
            Ok(())
        })
    }

    pub(crate) fn list_deployments(
        &self,
        query: &HashMap<String, String>,
        page_size: usize,
    ) -> Result<Value, ApiError> {
        let page = Page::of(query, page_size, self.deployments.len())?;
        let items: Vec<Value> = self.deployments[page.start..page.end]
            .iter()
            .map(|d| d.render_list(self.lenient()))
            .collect();
        let mut out = Map::new();
        out.insert("deployments".into(), Value::Array(items));
        if let Some(next) = page.next {
            out.insert("nextCursor".into(), Value::from(next));
        }
        Ok(Value::Object(out))
    }

    /// `GET /deployments/{id}`: the list entry's fields and the `type`.
    pub(crate) fn deployment_detail(&self, raw_id: &str) -> Result<Value, ApiError> {
        let index = self.deployment_position(raw_id)?;
        Ok(shapes::project(
            &self.deployments[index].render(),
            shapes::DEPLOYMENT_DETAIL,
        ))
    }

    fn deployment_position(&self, raw_id: &str) -> Result<usize, ApiError> {
        let not_found = || ApiError::not_found(format!("deployment {raw_id} not found"));
        let id: u64 = raw_id.parse().map_err(|_| not_found())?;
        self.deployments
            .iter()
            .position(|d| d.id == id)
            .ok_or_else(not_found)
    }

    /// `POST /deployments`: `projectId`, `label`, `type`. Lenient, as the
    /// emulator always did, any `projectId` is taken (one the key does not
    /// see means the default project); strict, it must be one the key sees
    /// (403).
    pub(crate) fn create_deployment(&mut self, body: &Value) -> Result<u64, ApiError> {
        let fields = Fields::of(body, "request body")?;
        let project = if self.lenient() {
            let given = fields
                .get("projectId")
                .ok_or_else(|| ApiError::bad_request("`projectId` is required"))?;
            project_text(given)
                .filter(|p| self.setup.sees(p))
                .unwrap_or_else(|| self.setup.project_id.clone())
        } else {
            self.project_for(&fields, false)?
        };
        let label = fields
            .string("label")?
            .ok_or_else(|| ApiError::bad_request("`label` is required"))?;
        self.check_label(&project, label, None)?;
        let kind = fields
            .one_of("type", &["client", "server"])?
            .ok_or_else(|| ApiError::bad_request("`type` is required: client or server"))?;
        Ok(self.add_deployment(&project, label, kind))
    }

    /// `PATCH /deployments/{id}`: `label` (the SDK key stays), `archive`.
    pub(crate) fn patch_deployment(&mut self, raw_id: &str, body: &Value) -> Result<(), ApiError> {
        let fields = Fields::of(body, "request body")?;
        let index = self.deployment_position(raw_id)?;
        let (id, project) = {
            let d = &self.deployments[index];
            (d.id, d.project_id.clone())
        };
        let label = fields.string("label")?;
        if let Some(label) = label {
            self.check_label(&project, label, Some(id))?;
        }
        let archive = fields.boolean("archive")?;
        let deployment = &mut self.deployments[index];
        if let Some(label) = label {
            label.clone_into(&mut deployment.label);
        }
        if let Some(archive) = archive {
            deployment.deleted = archive;
        }
        Ok(())
    }

    /// A valid label, not held by another live deployment of `project`.
    pub(super) fn check_label(
        &self,
        project: &str,
        label: &str,
        own_id: Option<u64>,
    ) -> Result<(), ApiError> {
        let valid = !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(ApiError::bad_request(format!(
                "`label` {label:?} is invalid: use letters, digits, `_` and `-`"
            )));
        }
        if self.deployments.iter().any(|d| {
            d.project_id == project && !d.deleted && d.label == label && Some(d.id) != own_id
        }) {
            return Err(ApiError::conflict(format!(
                "a deployment labelled {label:?} already exists"
            )));
        }
        Ok(())
    }

    /// The id of the deployment with this label, preferring a live one of
    /// the default project, then a live one of any project.
    pub(crate) fn deployment_id(&self, label: &str) -> Option<u64> {
        let labelled = || self.deployments.iter().filter(|d| d.label == label);
        labelled()
            .find(|d| !d.deleted && d.project_id == self.setup.project_id)
            .or_else(|| labelled().find(|d| !d.deleted))
            .or_else(|| labelled().next())
            .map(|d| d.id)
    }
}
