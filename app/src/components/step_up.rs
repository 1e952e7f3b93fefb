//! Step-up: when a sensitive action answers `E-OTP-006` (the session's last one-time password
//! is older than the setting), a dialog asks for a code, and the action runs again after it
//! with what was already entered ([`StepUp::guard`] for calls made in code,
//! [`StepUp::then`] for forms: the form is submitted again).

use crate::error::UiError;
use crate::i18n::use_lang;
use crate::server_fns::otp::otp_step_up;
use certdesk_domain::{Lang, Message};
use futures_channel::oneshot;
use leptos::prelude::*;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// The code of the refusal that asks for a fresh one-time password.
pub const STEP_UP_CODE: &str = "E-OTP-006";

/// A text in both languages for the current language (texts of the OTP pieces).
pub fn bi(ja: &'static str, en: &'static str) -> impl Fn() -> &'static str + Copy + Send + Sync {
    let lang = use_lang();
    move || match lang.get() {
        Lang::Ja => ja,
        Lang::En => en,
    }
}

type Waiter = Arc<Mutex<Option<oneshot::Sender<bool>>>>;

/// The step-up dialog's state, provided by the console layout (and the OTP page).
#[derive(Clone, Copy)]
pub struct StepUp {
    /// The refusal being answered; the dialog is open while this is set.
    asking: RwSignal<Option<Message>>,
    waiter: StoredValue<Waiter>,
}

impl StepUp {
    /// A new state, put in context for the pages below.
    pub fn provide() -> StepUp {
        let step_up = StepUp {
            asking: RwSignal::new(None),
            waiter: StoredValue::new(Arc::new(Mutex::new(None))),
        };
        provide_context(step_up);
        step_up
    }

    /// The state the layout provided (or a new one, with no dialog to show it).
    pub fn get() -> StepUp {
        use_context::<StepUp>().unwrap_or_else(StepUp::provide)
    }

    fn finish(&self, passed: bool) {
        self.asking.set(None);
        let waiter = self.waiter.get_value();
        let sender = waiter.lock().ok().and_then(|mut w| w.take());
        if let Some(sender) = sender {
            let _ = sender.send(passed);
        }
    }

    /// Opens the dialog; true once a code was accepted, false if it was closed.
    pub async fn ask(&self, why: Message) -> bool {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiter.get_value().lock() {
            if let Some(old) = w.replace(tx) {
                let _ = old.send(false);
            }
        }
        self.asking.set(Some(why));
        rx.await.unwrap_or(false)
    }

    /// Runs `call`; when it is refused for want of a fresh code, asks for one and runs it again.
    pub async fn guard<T, F, Fut>(&self, call: F) -> Result<T, UiError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, UiError>>,
    {
        match call().await {
            Err(e) if e.code == STEP_UP_CODE => {
                if self.ask(e.message.clone()).await {
                    call().await
                } else {
                    Err(e)
                }
            }
            other => other,
        }
    }

    /// When `error` asks for a fresh code: opens the dialog and runs `again` after it. True
    /// if the error was such a refusal (the page then need not show it).
    pub fn then(&self, error: &UiError, again: impl FnOnce() + 'static) -> bool {
        if error.code != STEP_UP_CODE {
            return false;
        }
        let me = *self;
        let why = error.message.clone();
        leptos::task::spawn_local(async move {
            if me.ask(why).await {
                again();
            }
        });
        true
    }
}

/// For a form posted through an `ActionForm`: when its answer asks for a fresh code, the
/// dialog opens and the form (as filled in) is submitted again after it.
pub fn resubmit_after_step_up<T: Clone + Send + Sync + 'static>(
    answer: impl Fn() -> Option<Result<T, UiError>> + Send + Sync + 'static,
    form: NodeRef<leptos::html::Form>,
) {
    let step_up = StepUp::get();
    Effect::new(move |_| {
        if let Some(Err(e)) = answer() {
            step_up.then(&e, move || {
                if let Some(f) = form.get_untracked() {
                    let _ = f.request_submit();
                }
            });
        }
    });
}

/// The dialog that asks for the code (in the console layout).
#[component]
pub fn StepUpDialog() -> impl IntoView {
    let step_up = StepUp::get();
    let lang = use_lang();
    let code = RwSignal::new(String::new());
    let error = RwSignal::new(None::<UiError>);
    let busy = RwSignal::new(false);
    let submit = move || {
        let typed = code.get_untracked();
        busy.set(true);
        leptos::task::spawn_local(async move {
            let result = otp_step_up(typed).await;
            busy.set(false);
            match result {
                Ok(()) => {
                    error.set(None);
                    code.set(String::new());
                    step_up.finish(true);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    move || {
        step_up.asking.get().map(|why| {
            view! {
                <div class="dialog-backdrop">
                    <form class="dialog" role="dialog" aria-modal="true" data-testid="step-up-dialog"
                        on:submit=move |ev| { ev.prevent_default(); submit(); }>
                        <h2>{bi("ワンタイムパスワードの確認", "Confirm with your one-time password")}</h2>
                        <p>{move || why.in_lang(lang.get()).to_string()}</p>
                        <div class="field">
                            <label for="step-up-code">{bi("ワンタイムパスワード(6桁)", "One-time password (6 digits)")}</label>
                            <input id="step-up-code" name="code" inputmode="numeric" autocomplete="one-time-code"
                                data-testid="step-up-code" required=true
                                prop:value=move || code.get()
                                on:input=move |ev| code.set(event_target_value(&ev))/>
                        </div>
                        {move || error.get().map(|e| view! { <crate::components::ErrorBanner error=e/> })}
                        <div class="dialog-buttons">
                            <button type="submit" class="primary" data-testid="step-up-submit" disabled=move || busy.get()>
                                {bi("確認して続ける", "Confirm and continue")}
                            </button>
                            <button type="button" data-testid="step-up-cancel"
                                on:click=move |_| { error.set(None); step_up.finish(false); }>
                                {bi("キャンセル", "Cancel")}
                            </button>
                        </div>
                    </form>
                </div>
            }
        })
    }
}
