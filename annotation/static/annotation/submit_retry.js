// Sending a subject's answer until the server answers it: shared by the rating page
// (trial.js) and the pair page (pair.js).
//
// The same request (same trial address, same body) is sent again while the server is
// unreachable or fails (5xx: a restarting server or proxy, never an answer about this
// submission); the server stores it once and acknowledges every copy alike, so nothing
// is dropped or counted twice. Meanwhile the subject is told the connection is lost.
(function () {
  "use strict";

  async function post(options) {
    try {
      const response = await fetch(options.url, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "X-CSRFToken": options.csrfToken,
          "X-Study-Language": options.language,
        },
        body: options.body,
      });
      return response.status >= 500 ? null : response;
    } catch (networkError) {
      return null;
    }
  }

  function connectionLost(options, attempt) {
    options.box.textContent = options.message;
    options.box.hidden = false;
    // Tests and tools can tell the state and how many tries failed.
    document.body.dataset.connection = "lost";
    document.body.dataset.submitRetries = String(attempt + 1);
  }

  function connectionBack(options) {
    options.box.hidden = true;
    if (document.body.dataset.connection) document.body.dataset.connection = "ok";
  }

  // 0.5, 1, 2, 4 s, then every 5 s; at once when the browser says it is online again.
  function waitToRetry(attempt) {
    return new Promise(function (resolve) {
      const done = function () {
        clearTimeout(timer);
        window.removeEventListener("online", done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(500 * 2 ** attempt, 5000));
      window.addEventListener("online", done);
    });
  }

  // options: url, body (a string, fixed before the first try), csrfToken, language,
  // box (the element that says the connection is lost), message (what it says).
  // Resolves to the server's response (status below 500).
  async function sendUntilAnswered(options) {
    for (let attempt = 0; ; attempt++) {
      const response = await post(options);
      if (response !== null) {
        connectionBack(options);
        return response;
      }
      connectionLost(options, attempt);
      await waitToRetry(attempt);
    }
  }

  window.subjectSubmit = { sendUntilAnswered: sendUntilAnswered };
})();
