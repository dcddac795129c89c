//! Deployments, and the deployments a flag or experiment is served through.

use super::*;

impl Store {
    pub(super) fn add_deployment(&mut self, label: &str, kind: &str) -> u64 {
        let id = self.allocate_id();
        let key = format!("{kind}-{}", self.rng.hex(32));
        self.deployments.push(Deployment {
            id,
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
            .map(|d| d.render(&self.project_id))
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
            for id in resolve_deployments(deployments, refs, "deployments", false)? {
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
            .map(|d| d.render(&self.project_id))
            .collect();
        let mut out = Map::new();
        out.insert("deployments".into(), Value::Array(items));
        if let Some(next) = page.next {
            out.insert("nextCursor".into(), Value::from(next));
        }
        Ok(Value::Object(out))
    }

    /// `POST /deployments`: `projectId`, `label`, `type`.
    pub(crate) fn create_deployment(&mut self, body: &Value) -> Result<u64, ApiError> {
        let fields = Fields::of(body, "request body")?;
        if fields.get("projectId").is_none() {
            return Err(ApiError::bad_request("`projectId` is required"));
        }
        let label = fields
            .string("label")?
            .ok_or_else(|| ApiError::bad_request("`label` is required"))?;
        self.check_label(label, None)?;
        let kind = fields
            .one_of("type", &["client", "server"])?
            .ok_or_else(|| ApiError::bad_request("`type` is required: client or server"))?;
        Ok(self.add_deployment(label, kind))
    }

    /// `PATCH /deployments/{id}`: `label`, `archive`.
    pub(crate) fn patch_deployment(&mut self, raw_id: &str, body: &Value) -> Result<(), ApiError> {
        let fields = Fields::of(body, "request body")?;
        let not_found = || ApiError::not_found(format!("deployment {raw_id} not found"));
        let id: u64 = raw_id.parse().map_err(|_| not_found())?;
        let index = self
            .deployments
            .iter()
            .position(|d| d.id == id)
            .ok_or_else(not_found)?;
        let label = fields.string("label")?;
        if let Some(label) = label {
            self.check_label(label, Some(id))?;
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

    pub(super) fn check_label(&self, label: &str, own_id: Option<u64>) -> Result<(), ApiError> {
        let valid = !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(ApiError::bad_request(format!(
                "`label` {label:?} is invalid: use letters, digits, `_` and `-`"
            )));
        }
        if self
            .deployments
            .iter()
            .any(|d| !d.deleted && d.label == label && Some(d.id) != own_id)
        {
            return Err(ApiError::conflict(format!(
                "a deployment labelled {label:?} already exists"
            )));
        }
        Ok(())
    }

    /// The id of the deployment with this label, preferring a live one.
    pub(crate) fn deployment_id(&self, label: &str) -> Option<u64> {
        let labelled = || self.deployments.iter().filter(|d| d.label == label);
        labelled()
            .find(|d| !d.deleted)
            .or_else(|| labelled().next())
            .map(|d| d.id)
    }
}
