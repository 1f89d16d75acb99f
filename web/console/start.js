/*
 * start.js — wires the sign-in form, sign-out and the router; opens the
 * console at once when this tab already holds a key.
 */
'use strict';

document.getElementById('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const key = document.getElementById('login-key').value.trim();
  const err = document.getElementById('login-error');
  sessionStorage.setItem(KEY_STORE, key);
  try {
    await LS.signIn();
  } catch (e) {
    sessionStorage.removeItem(KEY_STORE);
    err.hidden = false;
    err.textContent = e.status === 401 ? 'This key is not valid (mistyped, or revoked).' : e.message;
  }
});
document.getElementById('logout').addEventListener('click', () => LS.signOut());
window.addEventListener('hashchange', () => { if (LS.key()) LS.route(); });
if (LS.key()) LS.signIn().catch(() => LS.signOut('Sign in again.'));
else LS.signOut();
