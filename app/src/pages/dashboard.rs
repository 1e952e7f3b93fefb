//! The dashboard, the page after sign-in: users by certificate state (each count links to the
//! filtered Certificates list), a banner and one button to renew everything in the renewal
//! window with live progress, the weekly expiry chart (server-rendered SVG, readable without
//! JavaScript), the next expiries, renewal notices and mail that could not be sent, and the
//! users by role.
//!
//! The route renders in `SsrMode::Async` (see `lib.rs`), so the first HTML already holds
//! every number and the chart.

use crate::components::ErrorBanner;
use crate::error::UiError;
use crate::i18n::{t, tr, use_lang, Key};
use crate::server_fns::certificates::certificate_run_status;
use crate::server_fns::dashboard::{load_dashboard, renew_all_in_window};
use crate::server_fns::user_counts;
use certdesk_domain::dashboard::{starts_month, Bucket, WeekBar};
use certdesk_domain::notices::{MailFailureView, NoticeView};
use certdesk_domain::views::{date_part, BulkStatus, DashboardView, RunItemStatus, UpcomingExpiry};
use certdesk_domain::Lang;
use leptos::prelude::*;

/// The label of a dashboard count.
pub fn bucket_key(b: Bucket) -> Key {
    match b {
        Bucket::Valid => Key::BucketValid,
        Bucket::Window => Key::BucketWindow,
        Bucket::Expiring7 => Key::BucketExpiring7,
        Bucket::Expired => Key::BucketExpired,
        Bucket::Revoked => Key::BucketRevoked,
        Bucket::None => Key::BucketNone,
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The expiry chart as SVG markup: one bar per week, month labels under the first week of
/// each month, the largest count on the axis, a `<title>` per bar and a text summary for
/// screen readers (`role="img"` with `aria-labelledby`).
pub fn chart_svg(weeks: &[WeekBar], lang: Lang) -> String {
    const BAR: usize = 12;
    const LEFT: usize = 28;
    const TOP: usize = 10;
    const HEIGHT: usize = 120;
    let width = LEFT + weeks.len() * BAR + 8;
    let total: u32 = weeks.iter().map(|w| w.count).sum();
    let max = weeks.iter().map(|w| w.count).max().unwrap_or(0);
    let busiest = weeks
        .iter()
        .filter(|w| w.count > 0 && w.count == max)
        .map(|w| w.week_start.as_str())
        .next();
    let mut desc = format!(
        "{}: {total}. {}",
        t(lang, Key::DashChartSummary),
        t(lang, Key::DashChartDesc)
    );
    if let Some(week) = busiest {
        desc.push_str(&format!(
            " {}: {week} ({max}).",
            t(lang, Key::DashChartBusiest)
        ));
    }
    let mut svg = format!(
        r#"<svg class="expiry-chart" data-testid="expiry-chart" viewBox="0 0 {width} {h}" width="{width}" height="{h}" role="img" aria-labelledby="expiry-chart-title expiry-chart-desc" xmlns="http://www.w3.org/2000/svg"><title id="expiry-chart-title">{title}</title><desc id="expiry-chart-desc">{desc}</desc>"#,
        h = TOP + HEIGHT + 24,
        title = escape(t(lang, Key::DashChartTitle)),
        desc = escape(&desc),
    );
    let base = TOP + HEIGHT;
    svg.push_str(&format!(
        r##"<line x1="{LEFT}" y1="{base}" x2="{x2}" y2="{base}" stroke="#8a97a6"/><text x="{lx}" y="{ty}" font-size="10" text-anchor="end" fill="#5b6675">{max}</text><text x="{lx}" y="{base}" font-size="10" text-anchor="end" fill="#5b6675">0</text>"##,
        x2 = width - 4,
        lx = LEFT - 4,
        ty = TOP + 8,
    ));
    for (i, w) in weeks.iter().enumerate() {
        let x = LEFT + i * BAR;
        let h = if max == 0 {
            0
        } else {
            (w.count as usize * HEIGHT).div_ceil(max as usize)
        };
        svg.push_str(&format!(
            r##"<rect class="bar" x="{bx}" y="{y}" width="{bw}" height="{h}" fill="#2f6fab" data-week="{week}" data-count="{count}"><title>{label} {week}: {count}</title></rect>"##,
            bx = x + 1,
            y = base - h,
            bw = BAR - 2,
            week = escape(&w.week_start),
            count = w.count,
            label = escape(t(lang, Key::DashWeekOf)),
        ));
        if starts_month(&w.week_start) {
            let month = w.week_start.get(..7).unwrap_or_default();
            svg.push_str(&format!(
                r##"<text x="{x}" y="{y}" font-size="9" fill="#5b6675" aria-hidden="true">{m}</text>"##,
                y = base + 14,
                m = escape(if month.ends_with("-01") || i == 0 { month } else { month.get(5..).unwrap_or(month) }),
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

/// What the renewal panel is doing.
#[derive(Debug, Clone, PartialEq)]
enum Run {
    Idle,
    Confirm,
    Running {
        job: i64,
        status: Option<BulkStatus>,
    },
    Failed(UiError),
}

fn poll(job: i64, run: RwSignal<Run>, reload: RwSignal<u32>) {
    leptos::task::spawn_local(async move {
        match certificate_run_status(job).await {
            Ok(status) => {
                let finished = status.finished;
                run.set(Run::Running {
                    job,
                    status: Some(status),
                });
                if finished {
                    reload.update(|n| *n += 1);
                } else {
                    set_timeout(
                        move || poll(job, run, reload),
                        std::time::Duration::from_millis(300),
                    );
                }
            }
            Err(e) => run.set(Run::Failed(e)),
        }
    });
}

fn counts_view(d: &DashboardView) -> impl IntoView {
    let cards = Bucket::ALL.map(|b| (b, d.counts.get(b)));
    view! {
        <section aria-labelledby="counts-title">
            <h2 id="counts-title">{tr(Key::DashCountsTitle)}</h2>
            <ul class="cards">
                {cards.into_iter().map(|(b, n)| {
                    let href = format!("/certificates?filter={}", b.as_str());
                    view! {
                        <li class=format!("count-card bucket-{}", b.as_str())>
                            <a href=href data-testid=format!("count-{}", b.as_str())>
                                <span class="count">{n}</span>
                                <span class="label">{tr(bucket_key(b))}</span>
                            </a>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}

fn chart_view(weeks: Vec<WeekBar>) -> impl IntoView {
    let lang = use_lang();
    let rows: Vec<WeekBar> = weeks.iter().filter(|w| w.count > 0).cloned().collect();
    view! {
        <section aria-labelledby="chart-title">
            <h2 id="chart-title">{tr(Key::DashChartTitle)}</h2>
            <div class="chart-box" inner_html=move || chart_svg(&weeks, lang.get())></div>
            <p class="hint">{tr(Key::DashChartDesc)}</p>
            <details>
                <summary>{tr(Key::DashChartTable)}</summary>
                <table class="table" data-testid="chart-table">
                    <thead><tr><th scope="col">{tr(Key::DashWeekOf)}</th><th scope="col">{tr(Key::DashCount)}</th></tr></thead>
                    <tbody>
                        {rows.into_iter().map(|w| view! { <tr><td>{w.week_start}</td><td class="num">{w.count}</td></tr> }).collect_view()}
                    </tbody>
                </table>
            </details>
        </section>
    }
}

fn upcoming_view(upcoming: Vec<UpcomingExpiry>) -> impl IntoView {
    let empty = upcoming.is_empty();
    view! {
        <section aria-labelledby="upcoming-title">
            <h2 id="upcoming-title">{tr(Key::DashUpcomingTitle)}</h2>
            {if empty {
                view! { <p class="hint">{tr(Key::DashNoUpcoming)}</p> }.into_any()
            } else {
                view! {
                    <table class="table" data-testid="upcoming">
                        <thead><tr>
                            <th scope="col">{tr(Key::FieldLoginId)}</th>
                            <th scope="col">{tr(Key::FieldName)}</th>
                            <th scope="col">{tr(Key::CertNotAfter)}</th>
                            <th scope="col">{tr(Key::CertDaysLeft)}</th>
                            <th scope="col">{tr(Key::CertState)}</th>
                        </tr></thead>
                        <tbody>
                            {upcoming.into_iter().map(|u| {
                                let href = format!("/certificates/{}", u.serial);
                                view! {
                                    <tr data-login=u.login_id.clone()>
                                        <td><a href=href>{u.login_id.clone()}</a></td>
                                        <td>{u.name.clone()}</td>
                                        <td>{date_part(&u.not_after).to_string()}</td>
                                        <td class="num" data-testid="days-left">{u.days_left}</td>
                                        <td><span class=format!("badge bucket-{}", u.bucket.as_str())>{tr(bucket_key(u.bucket))}</span></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

fn mail_status_key(status: &str) -> Key {
    match status {
        "pending" => Key::MailPending,
        "sent" => Key::MailSent,
        "failed" => Key::MailFailed,
        _ => Key::MailNone,
    }
}

/// "Last backup: date, size", as a warning banner when the last one failed or is overdue.
fn backup_view(status: certdesk_domain::backup::BackupStatus) -> impl IntoView {
    let lang = use_lang();
    let message = status.summary();
    let warn = status.warn;
    view! {
        <p
            class=if warn { "error-banner" } else { "backup-status" }
            role=if warn { "alert" } else { "status" }
            data-testid="backup-status"
            data-warn=warn.to_string()
        >
            {move || message.in_lang(lang.get()).to_string()}
        </p>
    }
}

fn notices_view(notices: Vec<NoticeView>, failures: Vec<MailFailureView>) -> impl IntoView {
    let lang = use_lang();
    let no_notices = notices.is_empty();
    view! {
        <section aria-labelledby="notices-title">
            <h2 id="notices-title">{tr(Key::DashNoticesTitle)}</h2>
            {(!failures.is_empty()).then(|| view! {
                <div class="error-banner" role="alert" data-testid="mail-failures">
                    <strong>{tr(Key::DashMailFailuresTitle)}</strong>
                    <ul>
                        {failures.into_iter().map(|f| {
                            let message = f.message.clone();
                            view! {
                                <li data-code=f.error_code.clone()>
                                    <span class="error-code">{f.error_code.clone()}</span> " "
                                    {move || message.in_lang(lang.get()).to_string()} " · "
                                    {tr(Key::DashMailRecipients)} ": " {f.recipients.clone()} " · "
                                    {tr(Key::DashMailAttempts)} ": " {f.attempts} " · "
                                    {match f.next_attempt_at.clone() {
                                        Some(at) => view! { {tr(Key::DashMailNextTry)} ": " {at} }.into_any(),
                                        None => view! { <strong>{tr(Key::DashMailGivenUp)}</strong> }.into_any(),
                                    }}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                </div>
            })}
            {if no_notices {
                view! { <p class="hint">{tr(Key::DashNoNotices)}</p> }.into_any()
            } else {
                view! {
                    <table class="table" data-testid="notices">
                        <thead><tr>
                            <th scope="col">{tr(Key::FieldLoginId)}</th>
                            <th scope="col">{tr(Key::DashNoticeAt)}</th>
                            <th scope="col">{tr(Key::CertNotAfter)}</th>
                            <th scope="col">{tr(Key::DashNoticeRecorded)}</th>
                            <th scope="col">{tr(Key::DashMailStatus)}</th>
                        </tr></thead>
                        <tbody>
                            {notices.into_iter().map(|n| view! {
                                <tr data-login=n.login_id.clone() data-threshold=n.threshold_days>
                                    <td>{n.login_id.clone()}</td>
                                    <td>{n.threshold_days} {tr(Key::DashDaysBefore)}</td>
                                    <td>{date_part(&n.not_after).to_string()}</td>
                                    <td>{n.created_at.get(..19).unwrap_or(&n.created_at).replace('T', " ")}</td>
                                    <td data-status=n.mail_status.clone()>{tr(mail_status_key(&n.mail_status))}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn RenewalPanel(renewable: u32, run: RwSignal<Run>, reload: RwSignal<u32>) -> impl IntoView {
    let lang = use_lang();
    let start = move |_| {
        run.set(Run::Running {
            job: 0,
            status: None,
        });
        leptos::task::spawn_local(async move {
            match renew_all_in_window().await {
                Ok(job) => poll(job, run, reload),
                Err(e) => run.set(Run::Failed(e)),
            }
        });
    };
    move || {
        match run.get() {
        Run::Idle if renewable == 0 => None,
        Run::Idle => Some(view! {
            <div class="notice window-banner" role="status" data-testid="window-banner">
                <strong data-testid="window-count">{renewable}</strong> {tr(Key::DashWindowBanner)} " "
                <button type="button" class="primary" data-testid="renew-window" on:click=move |_| run.set(Run::Confirm)>{tr(Key::DashRenewAll)}</button>
            </div>
        }.into_any()),
        Run::Confirm => Some(view! {
            <div class="notice window-banner" role="alertdialog" data-testid="window-confirm">
                <p>{tr(Key::DashRenewAllConfirm)} " (" {renewable} ")"</p>
                <div class="dialog-buttons">
                    <button type="button" class="primary" data-testid="confirm" on:click=start>{tr(Key::Confirm)}</button>
                    <button type="button" on:click=move |_| run.set(Run::Idle)>{tr(Key::Cancel)}</button>
                </div>
            </div>
        }.into_any()),
        Run::Running { job, status } => {
            let finished = status.as_ref().is_some_and(|s| s.finished);
            let (done, failed, total) = status.as_ref().map_or((0, 0, 0), |s| (s.done, s.failed, s.total));
            let items = status.map(|s| s.items).unwrap_or_default();
            let csv = format!("/bulk/{job}/result.csv");
            let xlsx = format!("/bulk/{job}/result.xlsx");
            Some(view! {
                <section class="card run-panel" data-testid="run-panel" aria-labelledby="run-title">
                    <h2 id="run-title">{tr(Key::DashRunTitle)}</h2>
                    <progress max=total.max(1) value=done + failed class:has-failures={failed > 0} data-testid="progress"></progress>
                    <p role="status" data-testid="progress-text">
                        {tr(Key::CertProgressDone)} ": " <span data-testid="run-done">{done}</span> " / " <span data-testid="run-total">{total}</span>
                        {(failed > 0).then(|| view! { " · " {tr(Key::CertProgressFailed)} ": " <span data-testid="run-failed">{failed}</span> })}
                        {finished.then(|| view! { " · " <strong data-testid="run-finished">{tr(Key::CertRunFinished)}</strong> })}
                    </p>
                    <ul class="results" data-testid="results">
                        {items.into_iter().map(|i| {
                            let (ja, en) = (i.message_ja.clone().unwrap_or_default(), i.message_en.clone().unwrap_or_default());
                            view! {
                                <li data-login=i.login_id.clone() data-status=i.status.as_str() data-code=i.error_code.clone().unwrap_or_default()>
                                    <strong>{i.login_id.clone()}</strong> " "
                                    {match i.status {
                                        RunItemStatus::Done => view! { <span class="ok">{tr(Key::CertItemDone)}</span> " " <code>{i.serial.clone().unwrap_or_default()}</code> }.into_any(),
                                        RunItemStatus::Failed => view! { <span class="error-code">{i.error_code.clone().unwrap_or_default()}</span> " " {move || if lang.get() == Lang::Ja { ja.clone() } else { en.clone() }} }.into_any(),
                                        _ => view! { <span class="hint">{tr(Key::Working)}</span> }.into_any(),
                                    }}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                    <div class="dialog-buttons">
                        {finished.then(|| view! { <a href=csv rel="external" download data-testid="run-csv">{tr(Key::DashRunCsv)}</a>
                            " · " <a href=xlsx rel="external" download data-testid="run-xlsx">"Excel (.xlsx)"</a> })}
                        <button type="button" data-testid="close-run" disabled=!finished on:click=move |_| run.set(Run::Idle)>{tr(Key::Close)}</button>
                    </div>
                </section>
            }.into_any())
        }
        Run::Failed(e) => Some(view! {
            <div data-testid="run-failed-banner">
                <ErrorBanner error=e/>
                <button type="button" on:click=move |_| run.set(Run::Idle)>{tr(Key::Close)}</button>
            </div>
        }.into_any()),
    }
    }
}

#[component]
pub fn DashboardPage() -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let dashboard = crate::codec::page_resource(move || reload.get(), |_| load_dashboard());
    let counts = crate::codec::page_resource(|| (), |_| user_counts());
    let run = RwSignal::new(Run::Idle);
    // A run that is still going (started elsewhere, or resumed after a restart) is followed.
    Effect::new(move |_| {
        if let Some(Ok(d)) = dashboard.get() {
            if let (Run::Idle, Some(&job)) = (run.get_untracked(), d.running_jobs.first()) {
                run.set(Run::Running { job, status: None });
                poll(job, run, reload);
            }
        }
    });
    view! {
        <h1>{tr(Key::DashboardTitle)}</h1>
        <Suspense fallback=move || view! { <p>{tr(Key::Loading)}</p> }>
            {move || dashboard.get().map(|r| match r {
                Ok(d) => {
                    let renewable = d.counts.renewable;
                    view! {
                        <RenewalPanel renewable=renewable run=run reload=reload/>
                        {counts_view(&d)}
                        {self_renewed_view(d.self_renewed)}
                        {chart_view(d.weeks.clone())}
                        {upcoming_view(d.upcoming.clone())}
                        {notices_view(d.notices.clone(), d.mail_failures.clone())}
                        {backup_view(d.backup.clone())}
                    }
                    .into_any()
                }
                Err(e) => view! { <ErrorBanner error=e/> }.into_any(),
            })}
        </Suspense>
        <section aria-labelledby="users-title">
            <h2 id="users-title">{tr(Key::UsersTitle)}</h2>
            <Suspense fallback=move || view! { <p>{tr(Key::Loading)}</p> }>
                {move || {
                    counts.get().map(|r| match r {
                        Ok(c) => {
                            let cards = [
                                (Key::UsersTotal, c.total, "users-total"),
                                (Key::UsersMasters, c.masters, "users-masters"),
                                (Key::UsersAdmins, c.admins, "users-admins"),
                                (Key::UsersGenerals, c.generals, "users-generals"),
                                (Key::UsersLocked, c.locked, "users-locked"),
                            ];
                            view! {
                                <ul class="cards">
                                    {cards
                                        .into_iter()
                                        .map(|(label, n, id)| view! {
                                            <li class="count-card">
                                                <span class="count" data-testid=id>{n}</span>
                                                <span class="label">{tr(label)}</span>
                                            </li>
                                        })
                                        .collect_view()}
                                </ul>
                                <p class="hint">{tr(Key::UsersLimit)}</p>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <ErrorBanner error=e/> }.into_any(),
                    })
                }}
            </Suspense>
        </section>
    }
}

/// How many certificates their holders renewed themselves on the check page (issue 17).
fn self_renewed_view(n: u32) -> impl IntoView {
    view! {
        <ul class="cards" data-testid="self-renewed">
            <li class="count-card">
                <span class="count" data-testid="self-renewed-count">{n}</span>
                <span class="label">{tr(Key::DashSelfRenewed)}</span>
            </li>
        </ul>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_has_a_bar_per_week_a_summary_and_month_labels() {
        let weeks = vec![
            WeekBar {
                week_start: "2026-11-30".into(),
                count: 2,
            },
            WeekBar {
                week_start: "2026-12-07".into(),
                count: 0,
            },
            WeekBar {
                week_start: "2027-01-04".into(),
                count: 1,
            },
        ];
        let svg = chart_svg(&weeks, Lang::En);
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains("next 13 months: 3."));
        assert!(svg.contains("Busiest week: 2026-11-30 (2)."));
        assert!(svg.contains(">2027-01<"));
        assert!(svg.contains(">12<"), "December's first week is labelled");
        assert!(svg.contains(r#"data-count="2""#));
        let ja = chart_svg(&weeks, Lang::Ja);
        assert!(ja.contains("週ごとの有効期限"));
    }
}
