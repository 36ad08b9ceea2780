package web

import (
	"net/http"
	"strconv"
	"strings"
)

// Languages the status page speaks. Cause titles and remedies come from
// package diagnose's catalog in the same two languages.
const (
	langEN = "en"
	langJA = "ja"
)

// pickLang: ?lang= wins, then the Accept-Language entry with the highest
// q among those we speak, then English.
func pickLang(r *http.Request) string {
	if l := strings.ToLower(r.URL.Query().Get("lang")); l != "" {
		if strings.HasPrefix(l, "ja") {
			return langJA
		}
		return langEN
	}
	best, bestQ := langEN, -1.0
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		var l string
		switch {
		case tag == "ja" || strings.HasPrefix(tag, "ja-"):
			l = langJA
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			l = langEN
		default:
			continue
		}
		if q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}

// messages are the page's own words; keys missing in Japanese fall back to
// English.
var messages = map[string]map[string]string{
	langEN: {
		"action_ok":                "done",
		"action_failed":            "failed",
		"probe_now":                "Probe now",
		"silence_2h":               "Silence this incident for 2 h",
		"silenced_until":           "silenced until",
		"expire_silence":           "Expire silence",
		"clear_guard":              "Clear guard",
		"clear_guard_hint":         "after the password was fixed",
		"latest":                   "latest attempt",
		"search":                   "Search",
		"target":                   "Target",
		"label":                    "Label",
		"any":                      "any",
		"apply":                    "Apply",
		"clear_filters":            "Clear filters",
		"history":                  "History (availability)",
		"latency":                  "latency",
		"availability":             "availability",
		"scope":                    "Scope",
		"timeline":                 "Timeline",
		"timeline_list":            "Timeline in words",
		"tl.first":                 "first failure",
		"tl.confirmed":             "confirmed",
		"tl.alert":                 "alert sent",
		"tl.alert_failed":          "alert not delivered",
		"tl.resolved":              "resolved",
		"tl.now":                   "now",
		"more_members":             "All checks of this incident",
		"check_detail":             "Check",
		"back":                     "Back to the overview",
		"incidents":                "Open incidents",
		"no_incidents":             "No open incident: every check meets its expectation or is still pending.",
		"incidents_more":           "Incidents not shown (narrow with the filters):",
		"unverified_posture":       "Unverified posture",
		"unverified_intro":         "Checks that must stay refused (expect: fail) were refused for a reason that proves nothing about the setting they watch. Fix what hides the answer.",
		"guards":                   "Lockout guard",
		"guards_intro":             "exoprobe holds back Basic logins for these accounts so that its own failed attempts cannot lock them out.",
		"account":                  "Account",
		"failures":                 "Failed logins in the window",
		"until":                    "Held back until",
		"other_checks":             "Other checks",
		"grid_intro":               "One cell per check; hover for its state and cause, click to open it.",
		"prev":                     "previous",
		"next":                     "next",
		"page":                     "page",
		"readiness_more":           "Rows not shown:",
		"guard_until":              "lockout guard until",
		"posture.breach":           "Basic authentication logs in where it must stay off",
		"heading":                  "Mail login monitoring",
		"summary":                  "Checks",
		"targets":                  "Targets and checks",
		"protocol":                 "Protocol",
		"mechanism":                "Mechanism",
		"expect":                   "Expect",
		"state":                    "State",
		"cause":                    "Cause",
		"since":                    "Since",
		"words":                    "The server's words",
		"remedy":                   "Remedy",
		"inspect":                  "Inspect",
		"fix":                      "Fix",
		"steps":                    "Steps",
		"caveats":                  "Caveats",
		"evidence":                 "Evidence",
		"transcript":               "Last transcript (redacted)",
		"confirming":               "confirming the first result:",
		"confirming_recovery":      "confirming recovery: the latest attempt logged in",
		"confirming_login_works":   "confirming: the latest attempt logged in",
		"confirming_failure":       "confirming a failure:",
		"confirming_change":        "confirming a new cause:",
		"events":                   "Recent events",
		"no_events":                "No events yet.",
		"time":                     "Time",
		"event":                    "Event",
		"check":                    "Check",
		"readiness":                "Basic authentication retirement readiness",
		"readiness_intro":          "Targets that log in with Basic auth, and whether a working OAuth (XOAUTH2) check covers the same protocol. The rows marked “breaks” stop working when Microsoft turns Basic off.",
		"readiness_ready":          "Nothing breaks: every Basic dependency has a working XOAUTH2 check.",
		"readiness_none":           "No check depends on Basic authentication.",
		"breaks":                   "breaks",
		"safe":                     "ready",
		"basic":                    "Basic",
		"xoauth2":                  "XOAUTH2",
		"none":                     "none",
		"config_error":             "The last configuration reload failed; the previous configuration keeps running:",
		"updated":                  "Updated",
		"language":                 "日本語",
		"status.pending":           "pending",
		"status.ok":                "ok",
		"status.failing":           "failing",
		"status.unexpectedly_ok":   "unexpectedly ok",
		"status.unverified":        "posture unverified",
		"kind.posture_unverified":  "posture unverified",
		"kind.regressed":           "regressed",
		"kind.cause_changed":       "cause changed",
		"kind.recovered":           "recovered",
		"kind.unexpectedly_ok":     "unexpectedly ok",
		"verdict.ready":            "a working XOAUTH2 check covers it",
		"verdict.no_xoauth2_check": "no XOAUTH2 check for this protocol",
		"verdict.xoauth2_failing":  "the XOAUTH2 check fails",
		"verdict.xoauth2_pending":  "the XOAUTH2 check has no result yet",
		"posture.ok":               "Basic stays off, as expected.",
		"ago":                      "ago",
		"alerts":                   "Recent alert deliveries",
		"no_alerts":                "No alert sent yet.",
		"sink":                     "Sink",
		"alert":                    "Alert",
		"delivery":                 "Delivery",
		"delivered":                "delivered",
		"retrying":                 "failed; will retry",
		"dropped":                  "refused; dropped",
		"checks_n":                 "checks",
		"alert.firing":             "firing",
		"alert.resolved":           "resolved",
	},
	langJA: {
		"action_ok":                "完了",
		"action_failed":            "失敗",
		"probe_now":                "今すぐ確認",
		"silence_2h":               "このインシデントを 2 時間ミュート",
		"silenced_until":           "ミュート中:",
		"expire_silence":           "ミュートを解除",
		"clear_guard":              "ロックアウト防止を解除",
		"clear_guard_hint":         "パスワードを直した後に",
		"latest":                   "直近の試行",
		"search":                   "検索",
		"target":                   "監視対象",
		"label":                    "ラベル",
		"any":                      "すべて",
		"apply":                    "適用",
		"clear_filters":            "絞り込みを解除",
		"history":                  "履歴 (可用性)",
		"latency":                  "応答時間",
		"availability":             "可用性",
		"scope":                    "範囲",
		"timeline":                 "経過",
		"timeline_list":            "経過の一覧",
		"tl.first":                 "最初の失敗",
		"tl.confirmed":             "確定",
		"tl.alert":                 "アラート送信",
		"tl.alert_failed":          "アラート未達",
		"tl.resolved":              "解決",
		"tl.now":                   "現在",
		"more_members":             "このインシデントのすべてのチェック",
		"check_detail":             "チェック",
		"back":                     "一覧に戻る",
		"incidents":                "発生中のインシデント",
		"no_incidents":             "発生中のインシデントはありません。すべてのチェックが期待どおりか、結果待ちです。",
		"incidents_more":           "表示していないインシデント (絞り込みで表示できます):",
		"unverified_posture":       "未検証のポスチャ",
		"unverified_intro":         "拒否されるべきチェック (expect: fail) が、監視している設定について何も証明しない理由で拒否されました。答えを隠している原因を直してください。",
		"guards":                   "ロックアウト防止",
		"guards_intro":             "exoprobe 自身の失敗したログインでアカウントがロックされないよう、これらのアカウントの基本認証ログインを控えています。",
		"account":                  "アカウント",
		"failures":                 "期間内の失敗ログイン",
		"until":                    "再開予定",
		"other_checks":             "その他のチェック",
		"grid_intro":               "1 マスが 1 チェックです。マウスを重ねると状態と原因を表示し、クリックで詳細を開きます。",
		"prev":                     "前へ",
		"next":                     "次へ",
		"page":                     "ページ",
		"readiness_more":           "表示していない行:",
		"guard_until":              "ロックアウト防止中:",
		"posture.breach":           "無効であるべき基本認証でログインできます",
		"heading":                  "メールログイン監視",
		"summary":                  "チェック",
		"targets":                  "監視対象とチェック",
		"protocol":                 "プロトコル",
		"mechanism":                "認証方式",
		"expect":                   "期待",
		"state":                    "状態",
		"cause":                    "原因",
		"since":                    "開始",
		"words":                    "サーバーの応答",
		"remedy":                   "対処",
		"inspect":                  "確認",
		"fix":                      "修正",
		"steps":                    "手順",
		"caveats":                  "注意",
		"evidence":                 "根拠",
		"transcript":               "直近のやり取り (秘匿化済み)",
		"confirming":               "初回の結果を確認中:",
		"confirming_recovery":      "回復を確認中: 直近の試行はログインに成功",
		"confirming_login_works":   "確認中: 直近の試行はログインに成功",
		"confirming_failure":       "失敗を確認中:",
		"confirming_change":        "原因の変化を確認中:",
		"events":                   "最近のイベント",
		"no_events":                "イベントはまだありません。",
		"time":                     "時刻",
		"event":                    "イベント",
		"check":                    "チェック",
		"readiness":                "基本認証廃止への準備状況",
		"readiness_intro":          "基本認証でログインしている監視対象と、同じプロトコルで動作する OAuth (XOAUTH2) チェックがあるかどうかです。「停止」の行は Microsoft が基本認証を無効にすると動かなくなります。",
		"readiness_ready":          "停止するものはありません。基本認証に依存するすべてのチェックに、動作する XOAUTH2 チェックがあります。",
		"readiness_none":           "基本認証に依存するチェックはありません。",
		"breaks":                   "停止",
		"safe":                     "準備完了",
		"basic":                    "基本認証",
		"xoauth2":                  "XOAUTH2",
		"none":                     "なし",
		"config_error":             "直近の設定の再読み込みに失敗しました。以前の設定で動作を続けています:",
		"updated":                  "更新",
		"language":                 "English",
		"status.pending":           "未確定",
		"status.ok":                "正常",
		"status.failing":           "失敗",
		"status.unexpectedly_ok":   "想定外に成功",
		"status.unverified":        "ポスチャ未検証",
		"kind.posture_unverified":  "ポスチャ未検証",
		"kind.regressed":           "退行",
		"kind.cause_changed":       "原因が変化",
		"kind.recovered":           "回復",
		"kind.unexpectedly_ok":     "想定外に成功",
		"verdict.ready":            "動作する XOAUTH2 チェックがあります",
		"verdict.no_xoauth2_check": "このプロトコルの XOAUTH2 チェックがありません",
		"verdict.xoauth2_failing":  "XOAUTH2 チェックが失敗しています",
		"verdict.xoauth2_pending":  "XOAUTH2 チェックの結果がまだありません",
		"posture.ok":               "想定どおり基本認証は無効です。",
		"ago":                      "前",
		"alerts":                   "最近のアラート送信",
		"no_alerts":                "送信したアラートはまだありません。",
		"sink":                     "送信先",
		"alert":                    "アラート",
		"delivery":                 "送信結果",
		"delivered":                "送信済み",
		"retrying":                 "失敗 (再送します)",
		"dropped":                  "拒否 (破棄)",
		"checks_n":                 "件のチェック",
		"alert.firing":             "発生",
		"alert.resolved":           "解決",
	},
}

func msg(lang, key string) string {
	if s, ok := messages[lang][key]; ok {
		return s
	}
	if s, ok := messages[langEN][key]; ok {
		return s
	}
	return key
}
