// The enrolment steps of /enroll and of the check page's renewal control (issue 17).
// The page (server/src/enroll_page.rs) holds every text; this script only shows and hides
// them, and shows the coded errors it receives next to the field they concern. The key pair,
// the request (CSR) and the .p12 are made by the enrolment bundle (enroll/, wasm): the private
// key never leaves this page except in the file saved on this PC.
// A module file, no inline script and no eval: it runs under the pages' Content-Security-Policy.

const root = document.getElementById('enroll');
const $ = (id) => document.getElementById(id);
const renew = root.dataset.mode === 'renew';
const api = renew
  ? { issue: '/check/renew', confirm: '/check/renew/confirm' }
  : { issue: '/api/enroll', confirm: '/api/enroll/confirm' };

let wasm = null;
let profile = null; // {key_type, p12_profile}
let key = null; // the key pair (wasm), kept only in this page
let issued = null; // the server's answer: certificate, chain, login_id, confirm_token...
let generated = null;
let enrolment = null; // {group_id, number} (enrolment only)

function setState(state) {
  root.dataset.state = state;
}

function progress(step) {
  for (const el of $('progress').querySelectorAll('[data-progress]')) {
    el.hidden = el.dataset.progress !== step;
  }
}

function clearErrors() {
  for (const el of root.querySelectorAll('.error')) {
    el.hidden = true;
    el.replaceChildren();
    delete el.dataset.code;
  }
}

/** The error as {code, field, ja, en}: a server error body, a wasm error or anything else. */
function coded(err) {
  if (err && typeof err.code === 'string' && err.message && typeof err.message.ja === 'string') {
    return { code: err.code, field: err.field ?? null, ja: err.message.ja, en: err.message.en };
  }
  if (err && typeof err.code === 'string' && typeof err.ja === 'string') return err;
  console.error(err);
  return coded(JSON.parse(root.dataset.unexpected));
}

/** Shows the error next to its field if the page has one, else in `slot`. */
function showError(err, slot) {
  const e = coded(err);
  const target = (e.field && root.querySelector(`.error[data-for="${CSS.escape(e.field)}"]`)) || $(slot);
  const line = (lang) => {
    const span = document.createElement('span');
    span.lang = lang;
    span.textContent = `${e.code}: ${e[lang]}`;
    return span;
  };
  target.replaceChildren(line('ja'), line('en'));
  target.dataset.code = e.code;
  target.hidden = false;
}

const toBase64 = (bytes) => {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
};
const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/** POSTs JSON; resolves to the answer (null for 204), rejects with the coded error. */
async function post(url, body) {
  let response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw JSON.parse(root.dataset.unreachable);
  }
  if (response.status === 204) return null;
  let answer;
  try {
    answer = await response.json();
  } catch {
    throw JSON.parse(root.dataset.unexpected);
  }
  if (!response.ok) throw answer;
  return answer;
}

async function start() {
  wasm = await import(root.dataset.bundleJs);
  await wasm.default({ module_or_path: root.dataset.bundleWasm });
  if (renew) {
    profile = { key_type: root.dataset.keyType, p12_profile: root.dataset.p12Profile };
  } else {
    const response = await fetch('/api/enroll/profile', { credentials: 'same-origin' });
    const answer = await response.json();
    if (!response.ok) throw answer;
    profile = answer;
    $('p12-profile').value = profile.p12_profile;
  }
}

async function enrol() {
  clearErrors();
  const button = $('enrol');
  button.disabled = true;
  setState('working');
  try {
    const body = {};
    if (!renew) {
      enrolment = {
        group_id: $('group_id').value.trim(),
        number: $('number').value.trim(),
      };
      Object.assign(body, enrolment, { code: $('code').value.trim() });
    }
    progress('keygen');
    key = await wasm.make_key(profile.key_type);
    const csr = await key.csr();
    progress('issuing');
    issued = await post(api.issue, { ...body, csr: toBase64(csr) });
    progress(null);
    for (const id of ['issued-login', 'issued-login-en']) $(id).textContent = issued.login_id;
    for (const id of ['issued-until', 'issued-until-en']) $(id).textContent = issued.not_after.slice(0, 10);
    $('p12-profile').value = issued.p12_profile;
    if (!renew) $('enrol-form').hidden = true;
    else button.hidden = true;
    $('step-save').hidden = false;
    setState('issued');
    $('password').focus();
  } catch (err) {
    progress(null);
    showError(err, 'enrol-error');
    button.disabled = false;
    setState('ready');
  }
}

function choosePassword() {
  const choice = root.querySelector('input[name="password-choice"]:checked').value;
  $('typed-password').hidden = choice !== 'typed';
  $('generated').hidden = choice !== 'generated';
  if (choice === 'generated' && generated === null) {
    try {
      generated = wasm.new_password();
      $('generated-password').textContent = generated;
    } catch (err) {
      showError(err, 'save-error');
    }
  }
}

async function save() {
  clearErrors();
  const choice = root.querySelector('input[name="password-choice"]:checked').value;
  let password = generated;
  if (choice === 'typed') {
    password = $('password').value;
    const refused = wasm.check_password(password, $('password2').value);
    if (refused) {
      showError(refused, 'save-error');
      return;
    }
  }
  const button = $('save');
  button.disabled = true;
  setState('saving');
  try {
    progress('building');
    const chain = issued.chain.map(fromBase64);
    const file = await key.p12(fromBase64(issued.certificate), chain, issued.friendly_name, password, $('p12-profile').value);
    const name = `${issued.login_id}.p12`;
    wasm.offer_download(file, name);
    await post(api.confirm, renew
      ? { confirm_token: issued.confirm_token }
      : { ...enrolment, confirm_token: issued.confirm_token });
    progress(null);
    for (const id of ['saved-name', 'saved-name-en']) $(id).textContent = name;
    $('step-save').hidden = true;
    $('step-done').hidden = false;
    setState('done');
  } catch (err) {
    progress(null);
    showError(err, 'save-error');
    button.disabled = false;
    setState('issued');
  }
}

if (renew) $('enrol').addEventListener('click', enrol);
else {
  $('enrol-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    enrol();
  });
}
for (const radio of root.querySelectorAll('input[name="password-choice"]')) radio.addEventListener('change', choosePassword);
$('save').addEventListener('click', save);

try {
  await start();
  progress(null);
  $('enrol').disabled = false;
  setState('ready');
} catch (err) {
  progress(null);
  showError(err, 'enrol-error');
  setState('failed');
}
