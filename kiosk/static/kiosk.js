/* Vertelpaal kiosk page: the visitor's screens, driven by GET /api/show.
 *
 * Plain JavaScript, no framework, no build step. The camera and microphone belong to the kiosk
 * service; this page only asks it to record (POST /api/recordings), shows the preview as MJPEG
 * and confirms answers into the outbox. Screens: attract → language → consent → questions →
 * thanks, with an "are you still there?" overlay when nobody touches the screen for a while.
 */
'use strict';

// The few words of the interface, as accessible names (and small secondary captions).
const UI = {
  nl: {
    welcome: 'Vertelpaal: vertel het ons!',
    start: 'Raak aan om te beginnen',
    chooseLanguage: 'Kies uw taal',
    languageOk: 'Verder in deze taal',
    consent: 'Mogen wij u filmen of uw stem opnemen?',
    consentYes: 'Ja, dat mag',
    consentNo: 'Nee, liever niet',
    consentYesShort: 'Ja',
    consentNoShort: 'Nee',
    parentTitle: 'Is je vader, moeder of verzorger erbij?',
    parentYes: 'Ja, het mag',
    parentNo: 'Nee, alleen tikken',
    replay: 'Nog een keer horen',
    back: 'Terug naar de vorige vraag',
    backToChoice: 'Terug: kies video of stem',
    skip: 'Deze vraag overslaan',
    question: 'Vraag {n} van {total}',
    withVideo: 'Antwoord met video',
    withVoice: 'Antwoord met uw stem',
    record: 'Opname starten',
    stop: 'Opname stoppen',
    timeLeft: 'Tijd over',
    level: 'Geluid',
    preview: 'Uzelf, live in beeld',
    playAgain: 'Opname afspelen',
    send: 'Versturen',
    again: 'Opnieuw opnemen',
    againShort: 'Opnieuw',
    trash: 'Weggooien',
    trashYes: 'Ja, weggooien',
    trashNo: 'Nee, bewaren',
    refused: 'Opnemen kan nu niet',
    cameraFailed: 'De camera deed het niet meer; dit is wat er is opgenomen',
    microphoneFailed: 'De microfoon deed het niet meer; dit is wat er is opgenomen',
    next: 'Verder',
    thanks: 'Dank u wel!',
    stillThere: 'Bent u er nog?',
    stillHere: 'Ja, ik ben er nog',
    seconds: 'Nog {n} seconden',
    pairingTitle: 'Deze Vertelpaal is nog niet gekoppeld',
    pairingHint: 'Typ deze code in de beheeromgeving, op de pagina Kiosken, en kies de vestiging.',
    waitingTitle: 'Even geduld',
    waitingHint: 'De vragen worden opgehaald. Kom zo terug!',
  },
  en: {
    welcome: 'Vertelpaal: tell us!',
    start: 'Touch to start',
    chooseLanguage: 'Choose your language',
    languageOk: 'Continue in this language',
    consent: 'May we film you or record your voice?',
    consentYes: 'Yes, you may',
    consentNo: 'No, thank you',
    consentYesShort: 'Yes',
    consentNoShort: 'No',
    parentTitle: 'Is your parent or carer with you?',
    parentYes: 'Yes, it is allowed',
    parentNo: 'No, only tapping',
    replay: 'Hear it again',
    back: 'Back to the previous question',
    backToChoice: 'Back: choose video or voice',
    skip: 'Skip this question',
    question: 'Question {n} of {total}',
    withVideo: 'Answer with video',
    withVoice: 'Answer with your voice',
    record: 'Start recording',
    stop: 'Stop recording',
    timeLeft: 'Time left',
    level: 'Sound level',
    preview: 'You, live on camera',
    playAgain: 'Play the recording',
    send: 'Send',
    again: 'Record again',
    againShort: 'Again',
    trash: 'Throw away',
    trashYes: 'Yes, throw it away',
    trashNo: 'No, keep it',
    refused: 'Recording is not possible now',
    cameraFailed: 'The camera stopped working; this is what was recorded',
    microphoneFailed: 'The microphone stopped working; this is what was recorded',
    next: 'Next',
    thanks: 'Thank you!',
    stillThere: 'Are you still there?',
    stillHere: 'Yes, I am still here',
    seconds: '{n} seconds left',
    pairingTitle: 'This Vertelpaal is not linked yet',
    pairingHint: 'Type this code on the Kiosks page of the admin site and choose the branch.',
    waitingTitle: 'Please wait',
    waitingHint: 'The questions are on their way. Come back soon!',
  },
};

const TAP_KINDS = ['scale', 'choice'];
const RING = 2 * Math.PI * 54; // circumference of the SVG rings (r = 54)
const METER_BARS = 12;
const GUARD_MS = 600; // after a new question appears, a second quick tap does not answer it
const CHOSEN_MS = 600; // a touched answer shows as chosen this long before the next question
const BLANK = 'data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw==';

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const state = {
  show: null,
  lang: document.documentElement.lang || 'nl',
  screen: 'loading',
  visit: 0, // a new number for every visitor, so that late timers of the last one do nothing
  session: null,
  consent: false,
  plan: [],
  index: 0,
  history: [], // {index, answer, chose} per question left behind: answer = uuid or null (skipped),
  // chose = the option value or 'video'/'voice' the visitor chose, shown again when they come back
  langTouched: null,
  lastActivity: performance.now(),
  stillDeadline: null,
  rec: { phase: 'tap', kind: null, uuid: null, max: 60, poll: null, polling: false, startedAt: 0, failedDevice: null },
  devicesFresh: null, // the device check asked for when a visitor starts
};

// --- words, pictograms, languages -------------------------------------------------------------

function t(key, vars = {}) {
  const text = (UI[state.lang] && UI[state.lang][key]) || UI.nl[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ''));
}

function localize() {
  document.documentElement.lang = state.lang;
  for (const el of document.querySelectorAll('[data-label]')) el.setAttribute('aria-label', t(el.dataset.label));
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  for (const el of document.querySelectorAll('[data-alt]')) el.alt = t(el.dataset.alt);
}

function pictogram(name) {
  return (state.show && state.show.pictograms[name]) || `/media/pictograms/${name}.svg`;
}

function languages() {
  return state.show.languages;
}

function localized(perLanguage) {
  if (!perLanguage) return null;
  return perLanguage[state.lang] || perLanguage[languages()[0].code] || Object.values(perLanguage)[0] || null;
}

function setLanguage(code) {
  state.lang = code;
  localize();
}

// --- talking to the kiosk service ------------------------------------------------------------

async function api(method, url, body) {
  const options = { method, cache: 'no-store', signal: AbortSignal.timeout(20000) };
  if (body !== undefined) {
    options.headers = { 'Content-Type': 'application/json' };
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = new Error((data && data.error) || `${method} ${url}: ${response.status}`);
    error.status = response.status;
    error.data = data;
    throw error;
  }
  return data;
}

// Changes to the outbox run one after the other, so "take back" never overtakes its answer.
let queue = Promise.resolve();
function enqueue(task) {
  const run = queue.then(task);
  queue = run.catch((error) => console.warn('kiosk:', error.message));
  return run;
}

// --- sound ---------------------------------------------------------------------------------

const cues = {};
const voice = new Audio();
let voiceDone = null;

function loadSounds() {
  for (const [name, url] of Object.entries(state.show.sounds || {})) {
    if (!url || cues[name]) continue;
    const audio = new Audio(url);
    audio.preload = 'auto';
    cues[name] = audio;
  }
}

function cue(name) {
  const audio = cues[name];
  if (!audio) return;
  try {
    audio.currentTime = 0;
  } catch {
    /* not loaded yet */
  }
  audio.play().catch(() => {});
}

// Speak one spoken label or language name; resolves when it has been said (or at most `limit` ms).
function speak(url, limit = 4000) {
  hush();
  if (!url) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      voice.removeEventListener('ended', done);
      voice.removeEventListener('error', done);
      if (voiceDone === done) voiceDone = null;
      resolve();
    };
    const timer = setTimeout(done, limit);
    voiceDone = done;
    voice.addEventListener('ended', done);
    voice.addEventListener('error', done);
    voice.src = url;
    voice.play().catch(done);
  });
}

function hush() {
  voice.pause();
  if (voiceDone) voiceDone();
}

// --- videos ----------------------------------------------------------------------------------

// Subtitles are written into the video's own caption band, never drawn over the picture: the
// track stays 'hidden' (loaded, cues active) and every cue change is copied into the band.
function showCaptions(video, textTrack) {
  const band = $(video.dataset.captions);
  if (!band) return;
  const cues = textTrack ? [...(textTrack.activeCues || [])] : [];
  band.textContent = cues.map((cue) => cue.text.replace(/<[^>]*>/g, '')).join('\n');
}

function setVideo(video, item, { muted = false, loop = false } = {}) {
  video.pause();
  for (const track of video.querySelectorAll('track')) track.remove();
  showCaptions(video, null);
  video.muted = muted;
  video.loop = loop;
  if (!item || !item.video) {
    video.removeAttribute('src');
    video.load();
    return;
  }
  video.src = item.video;
  if (item.subtitles) {
    const track = document.createElement('track');
    track.kind = 'captions';
    track.srclang = state.lang;
    track.label = (languages().find((l) => l.code === state.lang) || {}).name || state.lang;
    track.src = item.subtitles;
    track.default = true;
    video.append(track);
    track.track.mode = 'hidden';
    track.track.addEventListener('cuechange', () => {
      if (track.isConnected) showCaptions(video, track.track);
    });
  }
}

function playVideo(video) {
  if (!video.getAttribute('src')) return;
  try {
    video.currentTime = 0;
  } catch {
    /* not loaded yet */
  }
  video.play().catch(() => {});
}

function playing(media) {
  return Boolean(media.getAttribute('src')) && !media.paused && !media.ended;
}

function pauseAll() {
  for (const media of document.querySelectorAll('#screens video:not(#attract-video), #screens audio')) media.pause();
  hush();
}

// --- screens -----------------------------------------------------------------------------------

function showScreen(name) {
  for (const screen of document.querySelectorAll('.screen')) screen.hidden = screen.id !== name;
  document.body.dataset.screen = name;
  state.screen = name;
  state.lastActivity = performance.now();
  const heading = document.querySelector(`#${name} h1`);
  if (heading) heading.focus({ preventScroll: true });
}

function show(el, visible) {
  el.toggleAttribute('hidden', !visible); // an attribute, so that it works on SVG too
}

// For controls that come and go while the visitor looks (replay, back, skip): they keep their
// place when not offered, so that nothing else on the screen moves.
function offer(el, offered) {
  el.classList.toggle('vacant', !offered);
  el.setAttribute('aria-hidden', String(!offered));
}

// Keep focus on something visible when the control that had it disappears.
function keepFocus(fallback) {
  const active = document.activeElement;
  if (!active || active === document.body || active.closest('[hidden]') || active.hidden) {
    if (fallback && !fallback.hidden) fallback.focus({ preventScroll: true });
  }
}

// --- 1. attract ------------------------------------------------------------------------------

let attractTurn = 0;

// Answer pictograms are fetched before they are needed, so that a new question's cards appear
// whole at once instead of filling in one by one.
const pictures = new Map();
function loadPictures() {
  const questions = (state.show.questionnaire && state.show.questionnaire.questions) || [];
  for (const url of questions.flatMap((q) => q.options.map((o) => o.pictogram))) {
    if (!url || pictures.has(url)) continue;
    const img = new Image();
    img.src = url;
    pictures.set(url, img);
  }
}

async function refreshShow() {
  try {
    state.show = await api('GET', '/api/show');
    loadSounds();
    loadPictures();
  } catch (error) {
    console.warn('kiosk: could not refresh /api/show:', error.message);
  }
}

// Until the kiosk is linked to a branch and has its questions, it shows the pairing code (for
// staff) or asks visitors to come back, and looks again every few seconds.
function goPairing() {
  const pairing = state.show.status === 'pairing';
  $('pairing').querySelector('h1').textContent = t(pairing ? 'pairingTitle' : 'waitingTitle');
  $('pairing-code').textContent = pairing ? state.show.pairing_code || '' : '';
  $('pairing-hint').textContent = t(pairing ? 'pairingHint' : 'waitingHint');
  showScreen('pairing');
  const visit = state.visit;
  setTimeout(async () => {
    if (state.visit !== visit || state.screen !== 'pairing') return;
    await refreshShow();
    if (state.show.status === 'ready') goAttract();
    else goPairing();
  }, 3000);
}

function goAttract() {
  if (state.show.status && state.show.status !== 'ready') {
    goPairing();
    return;
  }
  state.visit += 1;
  stopPolling();
  setPreview(false);
  pauseAll();
  state.session = null;
  state.consent = false;
  state.plan = [];
  state.history = [];
  state.langTouched = null;
  state.rec = { ...state.rec, phase: 'tap', kind: null, uuid: null };
  setLanguage(languages()[0].code);
  showScreen('attract');
  attractTurn = 0;
  playAttract();
  refreshShow(); // the next visitor gets the newest questions and settings
}

// The attract loop takes turns through the languages, each with its own subtitles.
function playAttract() {
  const video = $('attract-video');
  const list = languages();
  const code = list[attractTurn % list.length].code;
  const item = state.show.kiosk_videos.attract && state.show.kiosk_videos.attract[code];
  const saved = state.lang;
  state.lang = code; // the subtitles' language
  setVideo(video, item, { muted: true, loop: list.length === 1 });
  state.lang = saved;
  video.play().catch(() => {});
}

function onAttractEnded() {
  if (state.screen !== 'attract') return;
  attractTurn += 1;
  playAttract();
}

function start() {
  if (state.screen !== 'attract') return;
  $('attract-video').pause();
  state.devicesFresh = refreshShow(); // devices may have come or gone while nobody was here
  if (languages().length > 1) goLanguage();
  else goAsked();
}

// --- 2. language -----------------------------------------------------------------------------

function buildFlags() {
  const box = $('flags');
  box.replaceChildren();
  for (const language of languages()) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'flag';
    button.lang = language.code;
    button.dataset.code = language.code;
    button.setAttribute('aria-label', language.name);
    const flag = document.createElement('img');
    flag.src = language.flag || pictogram('speaker');
    flag.alt = '';
    flag.className = 'flag-picture';
    const name = document.createElement('span');
    name.className = 'caption';
    name.textContent = language.name;
    name.setAttribute('aria-hidden', 'true');
    const speaker = document.createElement('img');
    speaker.src = pictogram('speaker');
    speaker.alt = '';
    speaker.className = 'badge speaker-badge';
    const check = document.createElement('img');
    check.src = pictogram('check');
    check.alt = '';
    check.className = 'badge check-badge';
    button.append(flag, name, speaker, check);
    button.addEventListener('click', () => touchFlag(language));
    box.append(button);
  }
}

function markLanguage() {
  for (const button of $('flags').querySelectorAll('.flag')) {
    button.setAttribute('aria-pressed', String(button.dataset.code === state.lang));
  }
}

async function goLanguage() {
  const visit = state.visit;
  buildFlags();
  markLanguage();
  showScreen('language');
  $('language-ok').classList.remove('invite');
  // Say every language's name in turn while its flag lights up.
  await sleep(300);
  for (const language of languages()) {
    if (state.visit !== visit || state.screen !== 'language' || state.langTouched) return;
    const button = $('flags').querySelector(`[data-code="${language.code}"]`);
    button.classList.add('speaking');
    await speak(language.spoken_name, 2500);
    button.classList.remove('speaking');
  }
}

function touchFlag(language) {
  if (state.screen !== 'language') return;
  for (const button of $('flags').querySelectorAll('.flag')) button.classList.remove('speaking');
  if (state.langTouched === language.code) {
    confirmLanguage(); // a second touch on the same flag goes on
    return;
  }
  state.langTouched = language.code;
  setLanguage(language.code);
  markLanguage();
  $('language-ok').classList.add('invite');
  speak(language.spoken_name, 2500);
}

function confirmLanguage() {
  if (state.screen !== 'language') return;
  hush();
  goAsked();
}

// --- 2b. "I came for..." and "are you a member of the library?" --------------------------------
// Both before consent; both without reading: the question and every card are spoken in turn,
// and a touched card says its name before the next screen comes.

Object.assign(UI.nl, { cameFor: 'Waarvoor kwam u vandaag?', memberQuestion: 'Bent u lid van de bibliotheek?' });
Object.assign(UI.en, { cameFor: 'What did you come for today?', memberQuestion: 'Are you a member of the library?' });
const WAITING_REFRESH_MS = 30000;

// Which questionnaire applies changes with the time of day (an activity starts or ends): while
// nobody is at the kiosk, look again now and then, so the next visitor gets the current one.
setInterval(() => {
  if (state.show && state.screen === 'attract') refreshShow();
}, WAITING_REFRESH_MS);

// What this visitor chose and answered; a new visit starts empty.
function asked() {
  if (!state.asked || state.asked.visit !== state.visit) {
    state.asked = { visit: state.visit, questionnaire: null, member: undefined };
  }
  return state.asked;
}

function goAsked() {
  const answers = asked();
  if (answers.questionnaire) state.show.questionnaire = answers.questionnaire; // kept over a refresh
  if ((state.show.choices || []).length && !answers.questionnaire) goChooser();
  else if (state.show.questionnaire.member_question && state.show.member && answers.member === undefined) goMember();
  else goConsent();
}

function askedAnswers() {
  const answers = asked();
  const extra = {};
  if (answers.questionnaire) extra.questionnaire = answers.questionnaire.id;
  if (typeof answers.member === 'string') extra.member = answers.member;
  return extra;
}

function labelsOf(item) {
  return item.labels[state.lang] || Object.values(item.labels)[0] || { label: item.value || '', audio: null };
}

function askedCards(box, items, onChosen) {
  box.replaceChildren();
  box.dataset.count = String(items.length);
  for (const item of items) {
    const labels = labelsOf(item);
    box.append(
      optionButton({
        label: labels.label,
        picture: item.pictogram,
        spokenLang: state.lang,
        onTouch: (button) => touchAsked(box, button, labels, () => onChosen(item)),
      }),
    );
  }
  guard(box.querySelectorAll('button'));
}

async function touchAsked(box, button, labels, onChosen) {
  const visit = state.visit;
  const screen = state.screen;
  if (box.dataset.chosen) return;
  box.dataset.chosen = 'yes';
  for (const card of box.querySelectorAll('.option')) card.classList.remove('speaking');
  button.classList.add('chosen');
  await Promise.all([speak(labels.audio, 3000), sleep(CHOSEN_MS)]);
  if (state.visit === visit && state.screen === screen) onChosen();
}

// The question, then each card's name while it lights up; stops when the visitor touches one.
async function sayInTurn(screen, prompt, box) {
  const visit = state.visit;
  const still = () => state.visit === visit && state.screen === screen && !box.dataset.chosen;
  await speak(prompt && prompt.audio, 5000);
  for (const card of box.querySelectorAll('.option')) {
    if (!still()) return;
    card.classList.add('speaking');
    await speak(card.dataset.audio, 3000);
    card.classList.remove('speaking');
  }
}

function showAsked(screen, box, prompt) {
  delete box.dataset.chosen;
  for (const [card, item] of [...box.querySelectorAll('.option')].map((c, i) => [c, box.items[i]])) {
    card.dataset.audio = labelsOf(item).audio || '';
  }
  showScreen(screen);
  const replay = () => {
    if (state.screen === screen && !box.dataset.chosen) sayInTurn(screen, prompt, box);
  };
  $(`${screen}-replay`).onclick = act(replay);
  replay();
}

function goChooser() {
  const box = $('choices');
  box.items = state.show.choices;
  askedCards(box, box.items, (choice) => {
    asked().questionnaire = choice.questionnaire;
    goAsked();
  });
  showAsked('chooser', box, localized(state.show.activity_chooser.prompt));
}

function goMember() {
  const box = $('member-options');
  const member = state.show.member;
  $('member-card').src = member.pictogram || pictogram('library-card');
  box.items = member.options;
  askedCards(box, box.items, (option) => {
    asked().member = option.value;
    goAsked();
  });
  showAsked('member', box, localized(member.prompt));
}

// --- 3. consent -------------------------------------------------------------------------------

// The consent screen comes at once, from what the kiosk knew when the visitor touched; the device
// check asked for at that touch only decides when it says something else: then nothing can be
// recorded any more, and the visitor goes on to the tap questions without being asked.
async function goConsent() {
  const visit = state.visit;
  const recordable = () => state.show.questionnaire.questions.some((q) => recordableKinds(q).length);
  if (!recordable()) await state.devicesFresh; // a device that came back may yet allow recording
  if (state.visit !== visit) return;
  if (!recordable()) {
    startSession(false); // nothing to film or record (no such question, or no device): no need to ask
    return;
  }
  const video = $('consent-video');
  setVideo(video, localized(state.show.kiosk_videos.consent));
  showScreen('consent');
  playVideo(video);
  await state.devicesFresh;
  if (state.visit === visit && state.screen === 'consent' && !recordable()) startSession(false);
}

// --- 3b. a parent or carer agrees (when the organisation switched the step on) ----------------

function onConsent(consent) {
  const step = state.show.parent_step;
  if (consent && step) goParent(step);
  else startSession(consent);
}

function goParent(step) {
  const text = step.texts[state.lang] || step.texts.nl || Object.values(step.texts)[0] || '';
  const paragraph = $('parent-text');
  paragraph.textContent = text;
  paragraph.lang = step.texts[state.lang] ? state.lang : 'nl';
  showScreen('parent');
  playParent();
}

function playParent() {
  const step = state.show.parent_step;
  speak(step && (step.audio[state.lang] || step.audio.nl), 30000);
}

// The first question comes at once; the service makes the session meanwhile. state.session is
// the promise of its uuid: every call that names the session goes through the outbox queue
// after the one that makes it, so it never waits for it in vain.
let starting = false;
async function startSession(consent, parentConsent = null) {
  if (starting) return;
  starting = true;
  const visit = state.visit;
  pauseAll();
  hush();
  try {
    await state.devicesFresh; // what the session says was missing comes from the latest check
  } finally {
    starting = false;
  }
  if (state.visit !== visit) return;
  const request = { language: state.lang, consent, missing_devices: missingDevices(), ...askedAnswers() };
  if (parentConsent !== null) request.parent_consent = parentConsent;
  state.session = enqueue(() => api('POST', '/api/sessions', request)).then((body) => body.uuid);
  state.session.catch((error) => {
    console.warn('kiosk: no session:', error.message);
    if (state.visit === visit) goAttract();
  });
  const mayRecord = consent && parentConsent !== false;
  state.consent = mayRecord;
  const questions = state.show.questionnaire.questions;
  state.plan = questions.filter((q) => TAP_KINDS.includes(q.kind) || (mayRecord && offerable(q)));
  state.history = [];
  if (state.plan.length) goQuestion(0);
  else goThanks();
}

// --- 4. questions -------------------------------------------------------------------------------

function currentQuestion() {
  return state.plan[state.index];
}

function goQuestion(index, { after = null } = {}) {
  const visit = state.visit;
  state.index = index;
  const question = currentQuestion();
  const prompt = localized(question.prompts) || {};
  stopPolling();
  setPreview(false);
  showScreen('question');
  $('question-title').textContent = `${t('question', { n: index + 1, total: state.plan.length })}: ${prompt.text || ''}`;
  renderProgress();

  const video = $('prompt-video');
  setVideo(video, prompt);
  // The question is asked once the spoken answer label of the last question has been said.
  Promise.resolve(after).then(() => {
    if (state.visit === visit && state.screen === 'question' && state.index === index) playVideo(video);
  });

  state.rec = { ...state.rec, uuid: null, kind: null, failedDevice: null, max: state.show.settings.max_answer_seconds };
  const kinds = recordableKinds(question);
  if (TAP_KINDS.includes(question.kind) || (!kinds.length && question.options.length)) {
    renderOptions(question); // a recorded question whose device does not work: its tap options
    setPhase('tap');
  } else if (!kinds.length) {
    goNext({ after }); // its device stopped working during this visit: not asked, not in the history
    return;
  } else if (!state.show.settings.recording_allowed) {
    state.rec.kind = question.kind === 'voice' ? 'voice' : 'video';
    setPhase('refused');
  } else if (kinds.length > 1) {
    renderMediumChoice();
    setPhase('choose');
  } else {
    state.rec.kind = kinds[0];
    setPhase('ready');
  }
  guard($('options').querySelectorAll('button'));
}

// New controls under the finger wait a moment, so that a double tap does not answer twice.
function guard(buttons) {
  for (const button of buttons) {
    button.setAttribute('aria-disabled', 'true');
    setTimeout(() => button.setAttribute('aria-disabled', 'false'), GUARD_MS);
  }
}

function renderProgress() {
  const list = $('progress');
  list.replaceChildren();
  state.plan.forEach((_, i) => {
    const dot = document.createElement('li');
    dot.className = i < state.index ? 'done' : i === state.index ? 'now' : '';
    list.append(dot);
  });
}

function optionButton({ label, picture, spokenLang, onTouch, value, className = '' }) {
  const button = document.createElement('button');
  button.type = 'button';
  button.dataset.value = value;
  button.className = `option ${className}`.trim();
  button.setAttribute('aria-label', label);
  if (spokenLang) button.lang = spokenLang;
  const img = document.createElement('img');
  img.src = picture;
  img.alt = '';
  const caption = document.createElement('span');
  caption.className = 'caption';
  caption.textContent = label;
  caption.setAttribute('aria-hidden', 'true');
  const check = document.createElement('img');
  check.src = pictogram('check');
  check.alt = '';
  check.className = 'check-mark';
  button.setAttribute('aria-pressed', 'false');
  button.append(img, caption, check);
  button.addEventListener('click', () => {
    if (button.getAttribute('aria-disabled') === 'true') return;
    onTouch(button);
  });
  return button;
}

function renderOptions(question) {
  const box = $('options');
  box.replaceChildren();
  box.dataset.count = String(question.options.length);
  box.className = `options ${question.kind}`;
  for (const option of question.options) {
    const labels = option.labels[state.lang] || Object.values(option.labels)[0] || { label: option.value };
    box.append(
      optionButton({
        label: labels.label,
        picture: option.pictogram,
        spokenLang: state.lang,
        value: option.value,
        onTouch: () => answerTap(question, option, labels),
      }),
    );
  }
}

// Show which answer the visitor gave (before, when they come back to a question).
function markChosen(value) {
  for (const button of $('options').querySelectorAll('.option')) {
    button.setAttribute('aria-pressed', String(value !== undefined && button.dataset.value === value));
  }
}

async function answerTap(question, option, labels) {
  if (state.screen !== 'question' || state.rec.phase !== 'tap' || currentQuestion() !== question) return;
  const visit = state.visit;
  const index = state.index;
  // The answer is taken at once; the screen holds still a moment so that the visitor sees (a
  // frame and a check mark) and hears (the click, then the label) what they chose.
  markChosen(option.value);
  for (const other of $('options').querySelectorAll('.option')) other.setAttribute('aria-disabled', 'true');
  const answer = crypto.randomUUID();
  const session = state.session;
  const kind = TAP_KINDS.includes(question.kind) ? question.kind : 'choice';
  const body = { uuid: answer, question_id: question.id, kind, value: option.value };
  enqueue(async () => api('POST', `/api/sessions/${await session}/answers`, body));
  state.history.push({ index: state.index, answer, chose: option.value });
  const said = speak(labels.audio, 3000);
  await sleep(CHOSEN_MS);
  if (state.visit !== visit || state.screen !== 'question' || state.index !== index) return;
  goNext({ after: said });
}

function goNext({ after = null } = {}) {
  if (state.index + 1 < state.plan.length) goQuestion(state.index + 1, { after });
  else goThanks({ after });
}

function backToMediumChoice() {
  return recordableKinds(currentQuestion()).length > 1 && state.rec.phase === 'ready';
}

function goBack() {
  if (backToMediumChoice()) {
    // Back from the recorder of an open question: choose video or voice again.
    state.rec.kind = null;
    renderMediumChoice();
    setPhase('choose');
    return;
  }
  if (!state.history.length || !['tap', 'choose', 'ready', 'refused'].includes(state.rec.phase)) return;
  const last = state.history.pop();
  if (last.answer) {
    const session = state.session;
    enqueue(async () => api('DELETE', `/api/sessions/${await session}/answers/${last.answer}`));
  }
  hush();
  goQuestion(last.index);
  if (['tap', 'choose'].includes(state.rec.phase)) markChosen(last.chose);
}

// A still of the question video as it stands now, for the voice review: the visitor sees which
// question their voice answers. Without a picture yet, the question's first pictogram.
function questionStill() {
  const video = $('prompt-video');
  if (video.readyState >= 2 && video.videoWidth) {
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    try {
      canvas.getContext('2d').drawImage(video, 0, 0);
      return canvas.toDataURL('image/jpeg', 0.85);
    } catch {
      /* a picture the page may not read: fall back to a pictogram */
    }
  }
  const option = currentQuestion().options[0];
  return (option && option.pictogram) || pictogram('question');
}

function skip() {
  if (!['choose', 'ready', 'refused'].includes(state.rec.phase)) return;
  state.history.push({ index: state.index, answer: null });
  goNext();
}

function replayPrompt() {
  if (['countdown', 'recording', 'stopping'].includes(state.rec.phase)) return;
  hush();
  $('review-video').pause();
  $('review-audio').pause();
  playVideo($('prompt-video'));
}

// --- devices: a kind of answer is offered only when its devices work ------------------------------

const NEEDS = { video: ['camera', 'microphone'], voice: ['microphone'] };
const DEVICE_PICTOGRAMS = { camera: 'video-camera', microphone: 'microphone' };

function deviceWorks(name) {
  const devices = state.show.devices;
  return !devices || !devices[name] || devices[name].ok;
}

function missingDevices() {
  return Object.keys(DEVICE_PICTOGRAMS).filter((name) => !deviceWorks(name));
}

// The kinds of recorded answer this question can get now: for an open question video and/or voice.
function recordableKinds(question) {
  const kinds = question.kind === 'open' ? ['video', 'voice'] : [question.kind];
  return kinds.filter((kind) => NEEDS[kind] && NEEDS[kind].every(deviceWorks));
}

function offerable(question) {
  return recordableKinds(question).length > 0 || question.options.length > 0;
}

// The service said this device failed: it is not offered again during this visit.
function deviceFailed(name) {
  if (!DEVICE_PICTOGRAMS[name]) return null;
  if (state.show.devices && state.show.devices[name]) state.show.devices[name] = { ...state.show.devices[name], ok: false };
  return name;
}

// Beside the take that a failing device cut short: that device's pictogram, crossed out.
function showDeviceFailed(name) {
  const box = $('device-failed');
  show(box, Boolean(name));
  show($('again'), !name); // another take would need the device that just failed
  if (!name) return;
  $('device-failed-pictogram').src = pictogram(DEVICE_PICTOGRAMS[name]);
  box.setAttribute('aria-label', t(`${name}Failed`));
}

// --- recording -------------------------------------------------------------------------------------

function renderMediumChoice() {
  const box = $('options');
  box.replaceChildren();
  box.dataset.count = '2';
  box.className = 'options medium';
  box.append(
    optionButton({
      label: t('withVideo'),
      picture: pictogram('video-camera'),
      value: 'video',
      onTouch: () => chooseMedium('video'),
    }),
    optionButton({
      label: t('withVoice'),
      picture: pictogram('microphone'),
      value: 'voice',
      onTouch: () => chooseMedium('voice'),
    }),
  );
}

async function chooseMedium(kind) {
  if (state.rec.phase !== 'choose' || state.choosing) return;
  const visit = state.visit;
  const index = state.index;
  markChosen(kind);
  state.choosing = true;
  try {
    await sleep(CHOSEN_MS);
  } finally {
    state.choosing = false;
  }
  if (state.visit !== visit || state.index !== index || state.rec.phase !== 'choose') return;
  state.rec.kind = kind;
  setPhase('ready');
}

let previewOn = false;
let previewCheck = null;

function setPreview(on) {
  const img = $('preview');
  if (on === previewOn) return;
  previewOn = on;
  clearTimeout(previewCheck);
  if (on) {
    img.src = `/api/preview.mjpeg?t=${Date.now()}`;
    // A camera that is slow to wake up gets one more chance.
    previewCheck = setTimeout(() => {
      if (previewOn && img.naturalWidth === 0) img.src = `/api/preview.mjpeg?t=${Date.now()}`;
    }, 6000);
  } else {
    img.src = BLANK; // closes the MJPEG stream
  }
}

function setPhase(phase) {
  const rec = state.rec;
  rec.phase = phase;
  const section = $('question');
  section.dataset.phase = phase;
  section.dataset.kind = rec.kind || '';
  const video = rec.kind === 'video';
  const live = ['ready', 'countdown', 'recording'].includes(phase);
  const recordingNow = ['countdown', 'recording', 'stopping'].includes(phase);

  const reviewing = phase === 'review' || phase === 'discard';
  show($('options'), phase === 'tap' || phase === 'choose');
  show($('you-pane'), !['tap', 'choose'].includes(phase));
  $('question-stage').classList.toggle('two', !['tap', 'choose'].includes(phase));
  show($('preview'), video && live);
  show($('voice-meter'), !video && live);
  show($('review-video'), video && reviewing);
  show($('review-picture'), !video && reviewing);
  show($('review-play'), phase === 'review');
  show($('refused'), phase === 'refused');
  show($('rec-badge'), phase === 'recording');
  show($('record-wrap'), live || phase === 'stopping');
  show($('record'), phase === 'ready' || phase === 'countdown');
  show($('stop'), phase === 'recording' || phase === 'stopping');
  $('record').setAttribute('aria-disabled', String(phase !== 'ready'));
  $('stop').setAttribute('aria-disabled', String(phase !== 'recording'));
  show($('ring'), phase === 'recording' || phase === 'stopping');
  show($('review-controls'), phase === 'review');
  show($('trash-confirm'), phase === 'discard');
  show($('go-on'), phase === 'refused');
  $('back').setAttribute('aria-label', t(backToMediumChoice() ? 'backToChoice' : 'back'));
  offer($('back'), backToMediumChoice() || (state.history.length > 0 && ['tap', 'choose', 'ready', 'refused'].includes(phase)));
  offer($('skip'), ['choose', 'ready'].includes(phase));
  offer($('prompt-replay'), !recordingNow);
  $('countdown').textContent = '';
  if (!video && reviewing && phase === 'review') $('review-picture').src = questionStill();
  if (!reviewing) {
    for (const media of [$('review-video'), $('review-audio')]) {
      media.pause();
      media.removeAttribute('src');
    }
  }
  if (phase === 'refused') {
    const device = rec.failedDevice || (video ? 'camera' : 'microphone');
    $('refused-pictogram').src = pictogram(DEVICE_PICTOGRAMS[device]);
  }
  showDeviceFailed(phase === 'review' ? rec.failedDevice : null);
  setPreview(video && live);
  if (phase === 'ready') {
    setMeter(0);
    setRing(0, rec.max || state.show.settings.max_answer_seconds);
  }

  const primary = {
    tap: $('options').querySelector('button'),
    choose: $('options').querySelector('button'),
    ready: $('record'),
    countdown: $('record'),
    recording: $('stop'),
    stopping: $('stop'),
    review: $('send'),
    discard: $('trash-no'),
    refused: $('go-on'),
  }[phase];
  if (phase === 'tap') return; // the new question's heading has focus
  if (['ready', 'recording', 'review', 'discard', 'refused'].includes(phase)) {
    primary.focus({ preventScroll: true });
  } else {
    keepFocus(primary);
  }
}

function buildMeter() {
  const bars = $('bars');
  for (let i = 0; i < METER_BARS; i += 1) bars.append(document.createElement('span'));
}

function setMeter(level) {
  const lit = Math.round(Math.max(0, Math.min(1, level)) * METER_BARS);
  $('bars').querySelectorAll('span').forEach((bar, i) => bar.classList.toggle('lit', i < lit));
  $('voice-meter').setAttribute('aria-valuenow', String(Math.round(level * 100)));
}

function setRing(elapsed, max) {
  const left = Math.max(0, max - elapsed);
  const fraction = max > 0 ? left / max : 0;
  const ring = $('ring-left');
  ring.style.setProperty('stroke-dashoffset', `${RING * (1 - fraction)}px`);
  ring.classList.toggle('low', left <= Math.min(10, max / 4));
  const svg = $('ring');
  svg.setAttribute('aria-valuemax', String(Math.round(max)));
  svg.setAttribute('aria-valuenow', String(Math.round(left)));
}

async function startCountdown() {
  const rec = state.rec;
  if (state.screen !== 'question' || rec.phase !== 'ready') return;
  const visit = state.visit;
  const index = state.index;
  const stillHere = () => state.visit === visit && state.index === index && rec.phase === 'countdown';
  pauseAll();
  setPhase('countdown');
  for (const n of [3, 2, 1]) {
    $('countdown').textContent = String(n);
    cue('beep');
    await sleep(1000);
    if (!stillHere()) return;
  }
  $('countdown').textContent = '';
  try {
    const body = await api('POST', '/api/recordings', { session: await state.session, kind: rec.kind });
    if (!stillHere()) {
      enqueue(() => api('DELETE', `/api/recordings/${body.uuid}`));
      return;
    }
    rec.uuid = body.uuid;
    rec.max = Number(body.max_seconds) || state.show.settings.max_answer_seconds;
  } catch (error) {
    console.warn('kiosk: cannot record:', error.status, error.message);
    rec.failedDevice = deviceFailed(error.data && error.data.device);
    if (stillHere()) setPhase('refused');
    return;
  }
  cue('start');
  setRing(0, rec.max);
  setPhase('recording');
  startPolling();
}

function startPolling() {
  const rec = state.rec;
  stopPolling();
  rec.startedAt = performance.now();
  rec.poll = setInterval(async () => {
    if (rec.phase !== 'recording') return;
    const local = (performance.now() - rec.startedAt) / 1000;
    if (local > rec.max + 2) {
      stopRecording(); // the service did not answer in time; stop anyway
      return;
    }
    if (rec.polling) return;
    rec.polling = true;
    try {
      const status = await api('GET', '/api/recording/status');
      if (rec.phase !== 'recording') return;
      const elapsed = typeof status.elapsed === 'number' ? status.elapsed : local;
      setRing(elapsed, rec.max);
      setMeter(status.level || 0);
      if (status.failed || elapsed >= rec.max - 0.05) stopRecording(); // a failed device ended it
    } catch {
      setRing(local, rec.max);
    } finally {
      rec.polling = false;
    }
  }, 200);
}

function stopPolling() {
  if (state.rec.poll) clearInterval(state.rec.poll);
  state.rec.poll = null;
}

async function stopRecording() {
  const rec = state.rec;
  if (rec.phase !== 'recording') return;
  const visit = state.visit;
  stopPolling();
  setPhase('stopping');
  cue('stop');
  let result;
  try {
    result = await api('POST', `/api/recordings/${rec.uuid}/stop`);
  } catch (error) {
    console.warn('kiosk: the recording failed:', error.message);
    if (state.visit === visit) {
      const uuid = rec.uuid;
      enqueue(() => api('DELETE', `/api/recordings/${uuid}`));
      rec.uuid = null;
      rec.failedDevice = deviceFailed(error.data && error.data.device);
      setPhase('refused');
    }
    return;
  }
  if (state.visit !== visit) return;
  rec.url = result.url;
  rec.failedDevice = deviceFailed(result.failed_device);
  setPhase('review');
  guard($('review-controls').querySelectorAll('button'));
  const media = rec.kind === 'video' ? $('review-video') : $('review-audio');
  media.src = result.url;
  media.play().catch(() => {});
}

function playReview() {
  const media = state.rec.kind === 'video' ? $('review-video') : $('review-audio');
  if (!media.getAttribute('src')) return;
  hush();
  $('prompt-video').pause();
  media.currentTime = 0;
  media.play().catch(() => {});
}

let reviewBusy = false;
async function sendRecording() {
  const rec = state.rec;
  if (rec.phase !== 'review' || reviewBusy) return;
  reviewBusy = true;
  const question = currentQuestion();
  const answer = crypto.randomUUID();
  const session = state.session;
  const body = { uuid: answer, question_id: question.id, kind: rec.kind, recording: rec.uuid };
  try {
    await enqueue(async () => api('POST', `/api/sessions/${await session}/answers`, body));
    state.history.push({ index: state.index, answer, chose: chosenMedium() });
  } catch {
    state.history.push({ index: state.index, answer: null, chose: chosenMedium() });
  } finally {
    reviewBusy = false;
  }
  rec.uuid = null;
  goNext();
}

async function discardRecording(thenWhat) {
  const rec = state.rec;
  if (!['review', 'discard'].includes(rec.phase) || reviewBusy) return;
  reviewBusy = true;
  const uuid = rec.uuid;
  rec.uuid = null;
  try {
    await enqueue(() => api('DELETE', `/api/recordings/${uuid}`));
  } catch {
    /* the outbox removes unsent recordings at start-up anyway */
  } finally {
    reviewBusy = false;
  }
  thenWhat();
}

// The medium an open question was answered with, to show as chosen when the visitor comes back.
function chosenMedium() {
  return currentQuestion().kind === 'open' ? state.rec.kind : undefined;
}

function recordAgain() {
  discardRecording(() => setPhase('ready'));
}

// "Throw away" asks once more, with pictograms only: the bin with a check, or a cross to keep it.
function askThrowAway() {
  if (state.rec.phase !== 'review' || reviewBusy) return;
  for (const media of [$('review-video'), $('review-audio')]) media.pause();
  setPhase('discard');
  guard($('trash-confirm').querySelectorAll('button'));
}

function keepRecording() {
  if (state.rec.phase !== 'discard') return;
  setPhase('review');
}

function throwAway() {
  if (state.rec.phase !== 'discard') return;
  discardRecording(() => {
    state.history.push({ index: state.index, answer: null, chose: chosenMedium() });
    goNext();
  });
}

// --- 5. thanks -------------------------------------------------------------------------------------

function goThanks({ after = null } = {}) {
  const visit = state.visit;
  stopPolling();
  setPreview(false);
  finishSession();
  const video = $('thanks-video');
  setVideo(video, localized(state.show.kiosk_videos.thanks));
  showScreen('thanks');
  Promise.resolve(after).then(() => {
    if (state.visit === visit && state.screen === 'thanks') playVideo(video);
  });
  setTimeout(() => {
    if (state.visit === visit && state.screen === 'thanks') goAttract();
  }, 15000); // in case the video never ends
}

function onThanksEnded() {
  const visit = state.visit;
  setTimeout(() => {
    if (state.visit === visit && state.screen === 'thanks') goAttract();
  }, 1500);
}

function finishSession() {
  const session = state.session;
  state.session = null;
  if (session) enqueue(async () => api('POST', `/api/sessions/${await session}/finish`));
}

// --- 6. idle: "are you still there?" --------------------------------------------------------------

function overlayOpen() {
  return !$('still-there').hidden;
}

function idleBlocked() {
  if (['loading', 'attract', 'thanks'].includes(state.screen) || overlayOpen()) return true;
  if (state.screen === 'question' && ['countdown', 'recording', 'stopping'].includes(state.rec.phase)) return true;
  // Nobody is asked "are you still there?" while a question or their own recording is playing.
  const media = ['consent-video', 'prompt-video', 'review-video', 'review-audio'].map($);
  return media.some(playing) || playing(voice);
}

function checkIdle() {
  const now = performance.now();
  if (overlayOpen()) {
    tickStillThere(now);
    return;
  }
  if (idleBlocked()) {
    state.lastActivity = now; // the idle time counts from the end of what blocked it
    return;
  }
  if (now - state.lastActivity >= state.show.settings.idle_seconds * 1000) openStillThere();
}

function openStillThere() {
  pauseAll();
  const overlay = $('still-there');
  overlay.hidden = false;
  $('screens').inert = true;
  document.body.dataset.overlay = 'still-there';
  state.stillDeadline = performance.now() + state.show.settings.still_there_seconds * 1000;
  const video = $('still-video');
  setVideo(video, localized(state.show.kiosk_videos.still_there));
  playVideo(video);
  $('still-number').textContent = '';
  tickStillThere(performance.now());
  $('still-continue').focus({ preventScroll: true });
}

function tickStillThere(now) {
  const total = state.show.settings.still_there_seconds;
  const left = Math.max(0, (state.stillDeadline - now) / 1000);
  const shown = Math.ceil(left);
  const number = $('still-number');
  if (number.textContent !== String(shown)) {
    number.textContent = String(shown);
    $('still-seconds').textContent = t('seconds', { n: shown });
  }
  $('still-ring').style.setProperty('stroke-dashoffset', `${RING * (1 - left / total)}px`);
  if (left <= 0) resetVisit();
}

function closeStillThere() {
  const overlay = $('still-there');
  if (overlay.hidden) return;
  $('still-video').pause();
  overlay.hidden = true;
  $('screens').inert = false;
  delete document.body.dataset.overlay;
  state.lastActivity = performance.now();
  const heading = document.querySelector(`#${state.screen} h1`);
  const phasePrimary = state.screen === 'question'
    && { ready: 'record', review: 'send', discard: 'trash-no', refused: 'go-on' }[state.rec.phase];
  (phasePrimary ? $(phasePrimary) : heading).focus({ preventScroll: true });
}

// The visitor walked away: what was sent stays, a recording not sent goes, and the kiosk starts over.
function resetVisit() {
  closeStillThere();
  stopPolling();
  const rec = state.rec;
  if (rec.uuid) {
    const uuid = rec.uuid;
    rec.uuid = null;
    enqueue(() => api('DELETE', `/api/recordings/${uuid}`));
  }
  finishSession();
  goAttract();
}

// --- wiring ------------------------------------------------------------------------------------------

function onTouch(event) {
  state.lastActivity = performance.now();
  const target = event.target instanceof Element ? event.target : null;
  if (target && target.closest('button, [data-surface]')) cue('tap');
}

// A control ignores touches while it is disabled (aria-disabled keeps it focusable and named).
function act(handler) {
  return (event) => {
    if (event.currentTarget.getAttribute('aria-disabled') === 'true') return;
    handler(event);
  };
}

function wire() {
  document.addEventListener('pointerdown', onTouch, true);
  document.addEventListener('keydown', () => {
    state.lastActivity = performance.now();
  }, true);

  $('attract').addEventListener('click', start);
  $('attract-video').addEventListener('ended', onAttractEnded);
  $('language-ok').addEventListener('click', act(confirmLanguage));
  $('consent-yes').addEventListener('click', act(() => onConsent(true)));
  $('parent-yes').addEventListener('click', act(() => startSession(true, true)));
  $('parent-no').addEventListener('click', act(() => startSession(true, false)));
  $('parent-replay').addEventListener('click', act(playParent));
  $('consent-no').addEventListener('click', act(() => startSession(false)));
  $('consent-replay').addEventListener('click', act(() => playVideo($('consent-video'))));
  $('prompt-replay').addEventListener('click', act(replayPrompt));
  $('back').addEventListener('click', act(goBack));
  $('skip').addEventListener('click', act(skip));
  $('go-on').addEventListener('click', act(skip));
  $('record').addEventListener('click', act(startCountdown));
  $('stop').addEventListener('click', act(stopRecording));
  $('review-play').addEventListener('click', act(playReview));
  $('send').addEventListener('click', act(sendRecording));
  $('again').addEventListener('click', act(recordAgain));
  $('trash').addEventListener('click', act(askThrowAway));
  $('trash-no').addEventListener('click', act(keepRecording));
  $('trash-yes').addEventListener('click', act(throwAway));
  $('thanks').addEventListener('click', () => {
    if (state.screen === 'thanks') goAttract();
  });
  $('thanks-video').addEventListener('ended', onThanksEnded);
  $('still-there').addEventListener('click', closeStillThere);
  $('preview').addEventListener('error', () => {
    if (state.rec.kind === 'video' && ['ready', 'countdown'].includes(state.rec.phase)) {
      state.rec.failedDevice = deviceFailed('camera'); // the preview is the camera's picture
      setPhase('refused');
    }
  });
  for (const media of [$('review-video'), $('review-audio')]) {
    media.addEventListener('play', () => $('you-pane').classList.add('playing'));
    for (const name of ['pause', 'ended']) {
      media.addEventListener(name, () => $('you-pane').classList.remove('playing'));
    }
  }
}

async function boot() {
  for (let attempt = 0; !state.show; attempt += 1) {
    await refreshShow();
    if (!state.show) await sleep(Math.min(10000, 500 * 2 ** attempt));
  }
  for (const img of document.querySelectorAll('img[data-pict]')) img.src = pictogram(img.dataset.pict);
  buildMeter();
  wire();
  goAttract();
  setInterval(checkIdle, 200);
}

boot();
