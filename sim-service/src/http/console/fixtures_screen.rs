//! The fixtures screen: the persons loaded, loading a fixture file, resetting
//! the state.

use super::*;

/// What the fixtures page shows of a person.
#[derive(Serialize)]
pub(super) struct PersonRow {
    id: String,
    description: String,
    name: String,
    name_kana: String,
    registered: bool,
    variant: &'static str,
    auth_not_after: String,
    revoked: bool,
    phones: Vec<String>,
    qualifications: usize,
}

pub(super) fn person_rows(state: &AppState) -> Result<Vec<PersonRow>, ConsoleError> {
    let mut rows = Vec::new();
    for person in state.fixture_persons()? {
        let profile = &person.card.profile;
        rows.push(PersonRow {
            id: person.id.clone(),
            description: person.description.clone(),
            name: profile.persona.name.clone(),
            name_kana: profile.persona.name_kana.clone(),
            registered: person.registered,
            variant: profile.variant.name(),
            auth_not_after: profile.certificates.auth.not_after.to_string(),
            revoked: profile.certificates.auth.revoked,
            phones: person
                .phones
                .iter()
                .map(|p| format!("{} ({}, {})", p.id, p.variant.name(), p.added))
                .collect(),
            qualifications: person.qualifications.len(),
        });
    }
    Ok(rows)
}

pub(super) async fn fixtures_page(
    State(state): State<AppState>,
    session: LoggedIn,
    Query(q): Query<Done>,
) -> Page {
    fixtures_with(state, session, Shown::asked(&q), String::new()).await
}

pub(super) async fn fixtures_with(
    state: AppState,
    session: LoggedIn,
    shown: Shown,
    toml: String,
) -> Page {
    let persons = blocking(move || person_rows(&state)).await??;
    page(
        "fixtures.html",
        &session,
        shown,
        context! { active => "fixtures", persons => persons, toml => toml },
    )
}

#[derive(Deserialize)]
pub(super) struct FixturesForm {
    csrf: String,
    toml: String,
}

pub(super) async fn load_fixtures(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<FixturesForm>,
) -> Page {
    session.check(&form.csrf)?;
    let service = state.service.clone();
    let toml = form.toml.clone();
    let installed = blocking(move || service.replace_fixtures(&toml, "the form")).await?;
    match installed {
        Ok(_) => done("/admin/fixtures", "fixtures"),
        Err(e) => {
            let e = ApiError::from(e);
            let shown = Shown::refused(e.status, e.message);
            fixtures_with(state, session, shown, form.toml).await
        }
    }
}

pub(super) async fn reset_state(
    State(state): State<AppState>,
    session: LoggedIn,
    Form(form): Form<CsrfOnly>,
) -> Page {
    session.check(&form.csrf)?;
    let service = state.service.clone();
    blocking(move || service.reset_state()).await??;
    done("/admin/fixtures", "reset")
}
