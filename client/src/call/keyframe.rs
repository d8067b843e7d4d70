//! An interceptor that lets keyframe requests (PLI and FIR) from the remote receiver reach the
//! application, and reads the loss the partner reports for our streams. On webrtc-rs's chain
//! inbound RTCP stops inside the interceptors, so without this the sender never hears that its
//! partner's decoder needs a keyframe; and webrtc-rs 0.21.1's stats take loss only from a bare
//! receiver report, while a partner that sends media reports it inside its sender reports (the
//! stats said 0% on a link dropping 3%).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;

/// Marks inbound PLI/FIR for delivery to the local track and records reported loss; passes
/// everything through.
#[derive(Default)]
pub struct KeyframeRequests {
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
    loss: ReportedLoss,
}

/// The fraction of our packets the partner last reported lost (the worst of our streams), in
/// 1/256ths as RTCP carries it. Cheap to clone; the stats read it.
#[derive(Debug, Clone, Default)]
pub struct ReportedLoss(Arc<AtomicU32>);

impl ReportedLoss {
    /// The last reported loss, 0–1.
    pub fn fraction(&self) -> f64 {
        f64::from(self.0.load(Ordering::Relaxed)) / 256.0
    }

    fn record(&self, reports: &[ReceptionReport]) {
        if let Some(worst) = reports.iter().map(|r| r.fraction_lost).max() {
            self.0.store(u32::from(worst), Ordering::Relaxed);
        }
    }
}

impl KeyframeRequests {
    /// An interceptor that records reported loss in `loss`.
    pub fn new(loss: ReportedLoss) -> Self {
        Self { loss, ..Self::default() }
    }
}

/// Whether an RTCP packet asks for a keyframe.
pub fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequests {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let mut keyframe = false;
            for p in packets {
                let any = p.as_any();
                if let Some(sr) = any.downcast_ref::<SenderReport>() {
                    self.loss.record(&sr.reports);
                } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                    self.loss.record(&rr.reports);
                } else {
                    keyframe |= is_keyframe_request(p.as_ref());
                }
            }
            if keyframe {
                msg.message.add(Attribute::DeliverToApplication);
            }
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write.pop_front()
    }
}

impl Interceptor for KeyframeRequests {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
