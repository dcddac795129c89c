//! A flag's or experiment's variants and the lists on each: users
//! (inclusions) and cohorts.

use super::*;

impl Store {
    pub(crate) fn variants(&self, collection: Collection, raw_id: &str) -> Result<Value, ApiError> {
        let object = self.object(collection, raw_id)?;
        Ok(Value::Array(
            object.variants.iter().map(Variant::render).collect(),
        ))
    }

    pub(crate) fn variant(
        &self,
        collection: Collection,
        raw_id: &str,
        key: &str,
    ) -> Result<Value, ApiError> {
        let object = self.object(collection, raw_id)?;
        Ok(object.variants[object.variant_index(key)?].render())
    }

    pub(crate) fn add_variant(
        &mut self,
        collection: Collection,
        raw_id: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        let fields = Fields::of(body, "request body")?;
        let mut variant = parse_variant(&fields, false)?;
        variant.rollout_weight = match fields.number("rolloutWeight")? {
            Some(weight) => check_range(weight, "rolloutWeight", None)?,
            None => Number::from(0),
        };
        self.modify(collection, raw_id, |object, _| {
            if object.variants.iter().any(|v| v.key == variant.key) {
                return Err(ApiError::conflict(format!(
                    "variant {:?} already exists",
                    variant.key
                )));
            }
            object.variants.push(variant);
            Ok(())
        })
    }

    pub(crate) fn patch_variant(
        &mut self,
        collection: Collection,
        raw_id: &str,
        key: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        let fields = Fields::of(body, "request body")?;
        self.modify(collection, raw_id, |object, _| {
            let index = object.variant_index(key)?;
            if let Some(new_key) = fields.string("key")? {
                if new_key.is_empty() {
                    return Err(ApiError::bad_request("`key` must not be empty"));
                }
                if new_key != key {
                    if object.variants.iter().any(|v| v.key == new_key) {
                        return Err(ApiError::conflict(format!(
                            "variant {new_key:?} already exists"
                        )));
                    }
                    rename_in_segments(&mut object.target_segments, key, new_key);
                    object.variants[index].key = new_key.to_owned();
                }
            }
            let variant = &mut object.variants[index];
            if let Some(name) = fields.string("name")? {
                variant.name = name.to_owned();
            }
            if let Some(description) = fields.string("description")? {
                variant.description = description.to_owned();
            }
            if let Some(payload) = fields.get("payload") {
                variant.payload = normalize_payload(payload);
            }
            if let Some(weight) = fields.number("rolloutWeight")? {
                variant.rollout_weight = check_range(weight, "rolloutWeight", None)?;
            }
            Ok(())
        })
    }

    pub(crate) fn delete_variant(
        &mut self,
        collection: Collection,
        raw_id: &str,
        key: &str,
    ) -> Result<(), ApiError> {
        self.modify(collection, raw_id, |object, _| {
            let index = object.variant_index(key)?;
            if let Some(segment) = object.target_segments.iter().find(|s| {
                s.get("rolloutWeights")
                    .and_then(Value::as_object)
                    .is_some_and(|w| w.contains_key(key))
            }) {
                let name = segment.get("name").and_then(Value::as_str).unwrap_or("");
                return Err(ApiError::bad_request(format!(
                    "variant {key:?} cannot be removed: target segment {name:?} still uses it \
                     in its rolloutWeights; update the target segments first"
                )));
            }
            object.variants.remove(index);
            Ok(())
        })
    }

    pub(crate) fn inclusions(
        &self,
        collection: Collection,
        raw_id: &str,
        key: &str,
    ) -> Result<Value, ApiError> {
        let object = self.object(collection, raw_id)?;
        Ok(json!(
            object.variants[object.variant_index(key)?].inclusions
        ))
    }

    pub(crate) fn add_inclusions(
        &mut self,
        collection: Collection,
        raw_id: &str,
        key: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        let fields = Fields::of(body, "request body")?;
        let added = fields
            .strings("inclusions")?
            .ok_or_else(|| ApiError::bad_request("`inclusions` is required"))?;
        self.modify(collection, raw_id, |object, _| {
            let variant = object.variant_mut(key)?;
            let mut merged = variant.inclusions.clone();
            merged.extend(added);
            let merged = dedup(merged);
            if merged.len() > MAX_INCLUSIONS {
                return Err(ApiError::bad_request(format!(
                    "a variant holds at most {MAX_INCLUSIONS} inclusions; this would make {}",
                    merged.len()
                )));
            }
            variant.inclusions = merged;
            Ok(())
        })
    }

    pub(crate) fn clear_inclusions(
        &mut self,
        collection: Collection,
        raw_id: &str,
        key: &str,
    ) -> Result<(), ApiError> {
        self.modify(collection, raw_id, |object, _| {
            object.variant_mut(key)?.inclusions.clear();
            Ok(())
        })
    }

    pub(crate) fn remove_inclusion_at(
        &mut self,
        collection: Collection,
        raw_id: &str,
        key: &str,
        raw_index: &str,
    ) -> Result<(), ApiError> {
        let index: usize = raw_index.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "user index {raw_index:?} is not a non-negative integer"
            ))
        })?;
        self.modify(collection, raw_id, |object, _| {
            let variant = object.variant_mut(key)?;
            if index >= variant.inclusions.len() {
                return Err(ApiError::not_found(format!(
                    "variant {key:?} has no user at index {index} (it has {})",
                    variant.inclusions.len()
                )));
            }
            variant.inclusions.remove(index);
            Ok(())
        })
    }

    /// `DELETE …/variants/{key}/bulk-delete-users` or `…/bulk-delete-cohorts`
    /// with `{"users": [ids]}` (the field is `users` for both, as the docs
    /// have it): at most 100 ids; ids the variant does not hold are ignored.
    pub(crate) fn bulk_remove(
        &mut self,
        list: IdList,
        collection: Collection,
        raw_id: &str,
        key: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        let (endpoint, noun, required) = match list {
            IdList::Users => ("bulk-delete-users", "ids", "`users` is required"),
            IdList::Cohorts => (
                "bulk-delete-cohorts",
                "cohort ids",
                "`users` (an array of cohort ids) is required",
            ),
        };
        let fields = Fields::of(body, "request body")?;
        let removed = fields
            .strings("users")?
            .ok_or_else(|| ApiError::bad_request(required))?;
        if removed.len() > MAX_BULK_DELETE {
            return Err(ApiError::bad_request(format!(
                "{endpoint} takes at most {MAX_BULK_DELETE} {noun} a request, got {}",
                removed.len()
            )));
        }
        self.modify(collection, raw_id, |object, _| {
            let variant = object.variant_mut(key)?;
            let ids = match list {
                IdList::Users => &mut variant.inclusions,
                IdList::Cohorts => &mut variant.cohorts,
            };
            ids.retain(|id| !removed.contains(id));
            Ok(())
        })
    }

    pub(crate) fn cohorts(
        &self,
        collection: Collection,
        raw_id: &str,
        key: &str,
    ) -> Result<Value, ApiError> {
        let object = self.object(collection, raw_id)?;
        Ok(json!(object.variants[object.variant_index(key)?].cohorts))
    }

    /// `POST …/variants/{key}/cohorts` with `{"inclusions": [cohort ids]}`:
    /// adds the ids the variant does not hold yet, keeping their order.
    pub(crate) fn add_cohorts(
        &mut self,
        collection: Collection,
        raw_id: &str,
        key: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        let fields = Fields::of(body, "request body")?;
        let added = fields.strings("inclusions")?.ok_or_else(|| {
            ApiError::bad_request("`inclusions` (an array of cohort ids) is required")
        })?;
        check_cohort_ids(&added)?;
        self.modify(collection, raw_id, |object, _| {
            let variant = object.variant_mut(key)?;
            variant.cohorts.extend(added);
            variant.cohorts = dedup(std::mem::take(&mut variant.cohorts));
            Ok(())
        })
    }
}

/// Renames a variant in every segment's `rolloutWeights`, keeping its place.
pub(super) fn rename_in_segments(segments: &mut [Value], old: &str, new: &str) {
    for segment in segments {
        if let Some(Value::Object(weights)) = segment.get_mut("rolloutWeights") {
            if weights.contains_key(old) {
                *weights = weights
                    .iter()
                    .map(|(k, v)| {
                        let key = if k == old { new.to_owned() } else { k.clone() };
                        (key, v.clone())
                    })
                    .collect();
            }
        }
    }
}
