// Package alerting holds the end-to-end test of issue 5's "done when": the
// daemon as a real process, the emulator, a webhook receiver, a stand-in
// for Slack and a real Alertmanager; one alert and one resolve each, across
// kill -9 of the daemon. Test files only.
package alerting
