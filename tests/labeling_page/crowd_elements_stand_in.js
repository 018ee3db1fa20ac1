/*
 * TEST-ONLY stand-in for crowd-html-elements (https://assets.crowd.aws/crowd-html-elements.js),
 * which this machine cannot reach. It defines the elements the NER template uses with just
 * enough behaviour to lay the page out and drive it: crowd-form (a form with a Submit button
 * that runs form.onsubmit), crowd-button, crowd-radio-group, crowd-radio-button (a `checked`
 * property, set by a click) and crowd-instructions (shows its short summary). It is never
 * deployed: Ground Truth serves the real elements to workers.
 */
(function () {
  function define(name, cls) { if (!customElements.get(name)) { customElements.define(name, cls); } }
  define("crowd-instructions", class extends HTMLElement {
    connectedCallback() {
      var self = this;
      this.style.display = "block";
      document.addEventListener("DOMContentLoaded", function () {  // children are parsed by then
        var detailed = self.querySelector("detailed-instructions");
        if (detailed) { detailed.style.display = "none"; }
      });
    }
  });
  define("crowd-button", class extends HTMLElement {
    connectedCallback() {
      this.setAttribute("role", "button");
      this.style.cssText += ";display:inline-block;padding:.3rem .8rem;border:1px solid #888;border-radius:4px;" +
        "background:#f3f3f3;cursor:pointer;font:14px system-ui,sans-serif";
    }
  });
  define("crowd-radio-group", class extends HTMLElement {
    connectedCallback() { this.style.cssText += ";display:flex;gap:1rem"; }
  });
  define("crowd-radio-button", class extends HTMLElement {
    constructor() { super(); this.checked = false; }
    connectedCallback() {
      var self = this;
      this.setAttribute("role", "radio");
      this.style.cssText += ";display:inline-block;cursor:pointer";
      var mark = document.createElement("span");
      mark.className = "stand-in-mark";
      mark.textContent = "\u25cb ";
      this.insertBefore(mark, this.firstChild);
      this.addEventListener("click", function () {
        var group = self.closest("crowd-radio-group") || document;
        Array.prototype.forEach.call(group.querySelectorAll("crowd-radio-button"), function (b) {
          b.checked = b === self;
          b.setAttribute("aria-checked", String(b.checked));
          b.querySelector(".stand-in-mark").textContent = b.checked ? "\u25c9 " : "\u25cb ";
        });
      });
    }
  });
  define("crowd-form", class extends HTMLElement {
    connectedCallback() {
      var self = this;
      this.style.display = "block";
      var submit = document.createElement("button");
      submit.type = "button";
      submit.id = "stand-in-submit";
      submit.textContent = "Submit";
      submit.addEventListener("click", function () { self.submitForTest(); });
      document.addEventListener("DOMContentLoaded", function () { self.appendChild(submit); });
    }
    // What crowd-form would post: every named field's value, as {name: value}.
    submitForTest() {
      var event = new Event("submit", {cancelable: true});
      if (typeof this.onsubmit === "function") { this.onsubmit(event); }
      if (event.defaultPrevented) { return null; }
      var fields = {};
      Array.prototype.forEach.call(this.querySelectorAll("input[name]"), function (input) { fields[input.name] = input.value; });
      return fields;
    }
  });
})();
