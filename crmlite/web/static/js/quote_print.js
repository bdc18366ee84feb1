// The printable quote's one behaviour: its Print button opens the browser's print dialog.
document.getElementById("print-quote")?.addEventListener("click", () => window.print());
